"""Redaction of every form an upstream echoes the injected secret in (docs/redaction.md), over
HTTP/1.1 and HTTP/2 (and WebSocket at the end): plain, chunked with the secret split at every
offset, gzip / deflate / br / zstd bodies (decoded, redacted, passed on decoded), base64 inside a
larger blob at every alignment (standard and URL-safe), JSON-escaped, hex, percent-encoded, in a
redirect Location, in server-sent events, in a trailer. The canary never reaches the client; a
coding Cloakroom cannot decode and a decompression bomb are refused and audited."""
import base64
import functools
import json
import subprocess
import urllib.parse

import pytest

import gwlib
import h2lib

SECRET = gwlib.SECRETS["bearer"]
HOST = "stream.example.com"


@pytest.fixture(params=["http1", "h2"])
def get(request, gw):
    if request.param == "http1":
        return gw.get
    return functools.partial(h2lib.get, gw)


def auth(gw):
    return [("Authorization", f"Bearer {gw.mint(hosts=HOST)}")]


def no_canary(resp):
    """No 5-character run of the secret in the response, as text, in any decoding this suite
    knows (base64 standard or URL-safe at any alignment is checked by its own test)."""
    text = resp.raw_head.decode("latin-1") + resp.body.decode("latin-1")
    for i in range(len(SECRET) - 5):
        piece = SECRET[i:i + 5]
        assert piece not in text, f"{piece!r} of the secret reached the client: {text[:400]}"
        assert piece.encode().hex() not in text.lower()


def decoded_blob(text, url_safe):
    text = text.replace("*", "A")
    if url_safe:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_plain_echo(gw, get):
    r = get(HOST, "/redact/plain", auth(gw))
    assert r.status == 200, r
    assert gwlib.is_redacted_bearer(r.json()["authorization"]), r.body
    no_canary(r)


def test_chunked_split_at_every_offset(gw, get):
    h = auth(gw)
    for at in range(len(SECRET) + 1):
        r = get(HOST, f"/redact/chunked?at={at}", h)
        assert r.status == 200, r
        assert r.body == b"head-" + gwlib.stars(SECRET).encode() + b"-tail\n", (at, r.body)


@pytest.mark.parametrize("form", ["gzip", "deflate", "rawdeflate", "br", "zstd"])
def test_compressed_bodies_are_decoded_and_redacted(gw, get, form):
    h = auth(gw) + [("Accept-Encoding", "gzip, deflate, br, zstd, compress")]
    r = get(HOST, f"/redact/{form}", h)
    assert r.status == 200, r
    # Passed on decoded: no Content-Encoding, framing fixed, a weak validator.
    assert "content-encoding" not in {k.lower() for k in r.headers}, r.headers
    assert gwlib.is_redacted_bearer(r.json()["authorization"]), r.body
    assert r.headers.get("etag") == 'W/"v1"', r.headers
    if "content-length" in {k.lower() for k in r.headers}:
        assert int(r.headers["content-length"]) == len(r.body)
    # The upstream was asked only for codings Cloakroom decodes.
    assert r.headers["x-seen-accept-encoding"] == "gzip, deflate, br, zstd", r.headers
    no_canary(r)


def test_curl_compressed_over_both_protocols(gw):
    tok = gw.mint(hosts=HOST)
    for proto in ("--http1.1", "--http2"):
        for form in ("gzip", "br", "zstd"):
            p = gw.curl(proto, "--compressed", "-i", "-H", f"Authorization: Bearer {tok}",
                        f"https://{HOST}/redact/{form}")
            out = p.stdout.decode("latin-1")
            assert SECRET not in out, out
            assert "Bearer " + gwlib.stars(SECRET) in out or gwlib.stars("Bearer " + SECRET) in out
            assert "content-encoding" not in out.lower(), out


def test_head_and_304_of_a_compressed_resource(gw, get):
    """No body to decode: the head describes what a GET through Cloakroom returns (decoded, no
    length, weak validator), and the connection stays in sync (no stray chunk terminator)."""
    r = get(HOST, "/redact/gzip", auth(gw), method="HEAD")
    assert r.status == 200, r
    assert "content-encoding" not in {k.lower() for k in r.headers}, r.headers
    assert "content-length" not in {k.lower() for k in r.headers}, r.headers
    assert r.body == b""
    r = get(HOST, "/redact/gzip-304", auth(gw) + [("If-None-Match", 'W/"v1"')])
    assert r.status == 304, r
    assert "content-encoding" not in {k.lower() for k in r.headers}, r.headers
    assert r.headers.get("etag") == 'W/"v1"', r.headers
    assert r.body == b""


def test_range_requests_ask_for_identity_and_a_compressed_206_is_refused(gw, get):
    r = get(HOST, "/redact/plain", auth(gw) + [("Range", "bytes=0-10"), ("Accept-Encoding", "gzip")])
    assert r.headers["x-seen-accept-encoding"] == "identity", r.headers
    r = get(HOST, "/redact/gzip-range", auth(gw) + [("Range", "bytes=0-")])
    assert r.status == 502, r
    gwlib.error_body_ok(r)
    no_canary(r)


@pytest.mark.parametrize("form", ["unknown", "gzip-bomb", "gzip-corrupt"])
def test_undecodable_bodies_never_pass(gw, get, form):
    try:
        r = get(HOST, f"/redact/{form}", auth(gw))
    except (ConnectionError, OSError) as e:  # the body was cut: what the agent must see
        assert form != "unknown", e
        r = None
    if r is not None:
        no_canary(r)
    if form == "unknown":
        # Refused before the head goes out.
        assert r.status == 502, r
        gwlib.error_body_ok(r)
        reason = "cannot decode"
    else:
        # The head went out; the body is cut (HTTP/1.1: the chunked body never ends; HTTP/2: the
        # stream is reset), and the exchange is audited as failed with the reason.
        reason = "decompression bomb" if form == "gzip-bomb" else "corrupt"
    records = [x for x in gw.audit() if f"/redact/{form}" in x.get("path", "")]
    assert records and reason in records[-1]["reason"], records[-1:]


@pytest.mark.parametrize("url_safe", [False, True])
def test_base64_in_a_blob_at_every_alignment(gw, get, url_safe):
    h = auth(gw)
    for at in range(6):
        r = get(HOST, f"/redact/base64?at={at}{'&url=1' if url_safe else ''}", h)
        assert r.status == 200, r
        doc = r.json()
        blob = decoded_blob(doc["blob"], url_safe)
        assert SECRET[2:-2].encode() not in blob, (at, blob)
        for i in range(len(SECRET) - 3):
            assert SECRET[i:i + 3].encode() not in blob, (at, blob)
        assert SECRET.encode() not in decoded_blob(doc["basic"], False)
        no_canary(r)


@pytest.mark.parametrize("form", ["json", "hex", "percent"])
def test_escaped_forms(gw, get, form):
    r = get(HOST, f"/redact/{form}", auth(gw))
    assert r.status == 200, r
    no_canary(r)
    text = r.body.decode()
    if form == "json":
        for value in json.loads(text):
            assert SECRET not in value, value
    if form == "percent":
        for line in text.split():
            assert SECRET not in urllib.parse.unquote_plus(line), line


def test_redirect_location(gw, get):
    r = get(HOST, "/redact/location", auth(gw))
    assert r.status == 302, r
    location = r.headers["location"]
    assert location.startswith("https://cb.example/done?token=*"), location
    b = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["b"][0]
    assert SECRET.encode() not in decoded_blob(b, True)
    no_canary(r)


def test_server_sent_events_split_across_reads(gw):
    tok = gw.mint(hosts=HOST)
    for proto in ("--http1.1", "--http2"):
        p = gw.curl(proto, "-N", "-H", f"Authorization: Bearer {tok}", f"https://{HOST}/redact/sse")
        lines = p.stdout.decode().split("\n")
        data = [x[len("data: "):] for x in lines if x.startswith("data: ")]
        assert data[-1] == "end", lines
        assert SECRET.encode() not in decoded_blob(data[0], False), data


def test_encoded_echoes_in_trailers(gw, get):
    """HTTP/2: the upstream's trailers become HTTP/2 trailers, redacted in every form; HTTP/1.1:
    the relay does not pass trailers on, so nothing can leak there either."""
    r = get(HOST, "/redact/trailer", auth(gw) + [("TE", "trailers")])
    assert r.status == 200 and r.body == b"ok", r
    no_canary(r)
    trailers = dict(getattr(r, "trailers", []))
    if isinstance(get, functools.partial):  # HTTP/2
        assert trailers.get("x-echo-b64", "").startswith("Y3R4"), r.trailers  # "ctx" stays
        assert SECRET.encode() not in decoded_blob(trailers["x-echo-b64"], False), trailers
        assert SECRET not in urllib.parse.unquote(trailers["x-echo-pct"]), trailers


def test_websocket_frames_echoing_encoded_forms(make_gateway, pki):
    """The WebSocket relay uses the same needles: the server echoes what the client sends, here
    the secret base64-encoded inside a blob and hex-encoded, fragmented."""
    import asyncio
    import test_gateway_websocket as wsmod
    upstream = wsmod.WsUpstream(pki).start()
    gw = make_gateway(extra=f"""
[[service]]
name = "ws"
hosts = ["ws.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {gwlib.toml_str(f"127.0.0.1:{upstream.port}")}
upstream_ca = {gwlib.toml_str(pki.ca)}
allow_private = true
""")
    tok = gw.mint(hosts="ws.example.com")
    blob = base64.b64encode(b"xy" + SECRET.encode() + b"z").decode()
    hexed = SECRET.encode().hex()

    async def talk():
        async with wsmod.connect_through(gw, "/echo", tok) as ws:
            await ws.send(iter([blob[:9], blob[9:30], blob[30:]]))
            first = await ws.recv()
            await ws.send(hexed)
            second = await ws.recv()
            return first, second

    first, second = asyncio.new_event_loop().run_until_complete(talk())
    assert len(first) == len(blob) and SECRET.encode() not in decoded_blob(first, False), first
    assert set(second) == {"*"}, second
