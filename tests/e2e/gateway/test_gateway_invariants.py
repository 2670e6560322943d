"""The security invariants of docs/architecture.md, each with a test that fails when the invariant is violated."""
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import gwlib
import h2lib
from gwlib import stars

S = gwlib.SECRETS
HERE = gwlib.HERE


@pytest.fixture(params=["http1", "h2"])
def get(request, gw):
    """gw.get over HTTP/1.1 and over HTTP/2: the invariants below hold on both front ends (one
    request per connection; tests/e2e/gateway/test_gateway_h2.py has the HTTP/2-only ones)."""
    if request.param == "http1":
        return gw.get
    return functools.partial(h2lib.get, gw)


def echo_of(resp):
    assert resp.status == 200, resp
    return resp.json()


# ---------------------------------------------------------------- 2. credential bound to the connection target

def test_cross_host_421_and_nothing_injected(gw, nginx):
    keys_tok = gw.mint(hosts="keys.example.com,api.example.com", methods="GET")
    m = "xhost" + uuid.uuid4().hex[:8]
    # CONNECT api.example.com, then Host: keys.example.com with a keys token in x-api-key
    t = gw.tunnel("api.example.com:443")
    try:
        t.start_tls("api.example.com", gw.ca_path)
        req = (f"GET /v1/{m} HTTP/1.1\r\nHost: keys.example.com\r\nx-api-key: {keys_tok}\r\n"
               f"Authorization: Bearer {keys_tok}\r\nConnection: close\r\n\r\n").encode()
        r = t.request(req)
    finally:
        t.close()
    assert r.status == 421, r
    gwlib.error_body_ok(r)
    time.sleep(0.2)
    assert m not in nginx.access_log(), "the misdirected request reached the upstream"


def test_sni_differs_from_connect_host(gw, nginx):
    """CONNECT api.example.com, TLS SNI keys.example.com, Host keys.example.com: never a keys injection."""
    tok = gw.mint(hosts="keys.example.com,api.example.com", methods="GET")
    m = "sni" + uuid.uuid4().hex[:8]
    t = gw.tunnel("api.example.com:443")
    try:
        try:
            t.start_tls("keys.example.com", gw.ca_path, check_hostname=False)
        except (ssl.SSLError, OSError):
            return  # refusing the handshake is fine
        try:
            r = t.request((f"GET /v1/{m} HTTP/1.1\r\nHost: keys.example.com\r\nx-api-key: {tok}\r\n"
                           "Connection: close\r\n\r\n").encode())
        except (ConnectionError, ssl.SSLError, OSError):
            return
    finally:
        t.close()
    assert r.status in (421, 403, 400), r
    time.sleep(0.2)
    assert m not in nginx.access_log()


def test_absolute_form_host_mismatch_inside_tunnel(gw, nginx):
    tok = gw.mint(hosts="keys.example.com,api.example.com", methods="GET")
    m = "abs" + uuid.uuid4().hex[:8]
    t = gw.tunnel("api.example.com:443")
    try:
        t.start_tls("api.example.com", gw.ca_path)
        r = t.request((f"GET https://keys.example.com/v1/{m} HTTP/1.1\r\nHost: keys.example.com\r\n"
                       f"x-api-key: {tok}\r\nConnection: close\r\n\r\n").encode())
    finally:
        t.close()
    assert r.status in (421, 400), r
    assert m not in nginx.access_log()


# ---------------------------------------------------------------- 3. no blind tunnel to a credential host

@pytest.mark.parametrize("authority", [
    "api.example.com:443", "api.example.com:8443", "API.Example.COM:443", "api.example.com.:443",
    "git.example.com:443", "plain.example.com:443",
])
def test_credential_host_never_tunneled_blind(gw, authority, pki):
    t = gw.tunnel(authority)
    try:
        if not t.ok:
            assert t.connect.status in (400, 403), t.connect
            return
        host = authority.rsplit(":", 1)[0].lower().rstrip(".")
        try:
            # verified against Cloakroom's CA only: a blind tunnel would present the upstream's cert
            t.start_tls(host, gw.ca_path, check_hostname=False, verify=True)
        except ssl.SSLCertVerificationError as e:
            pytest.fail(f"CONNECT {authority}: the certificate is not from Cloakroom's CA ({e})")
        assert gwlib.issuer_cn(t.cert) == gwlib.pem_subject_cn(gw.ca_path), t.cert
        assert ("DNS", host) in t.cert["subjectAltName"], t.cert
    finally:
        t.close()


# ---------------------------------------------------------------- 4. normalized paths

TOKEN_PATHS = "/v1/customers/**"


@pytest.mark.parametrize("raw,normalized", [
    ("//v1/customers/c1", "/v1/customers/c1"),
    ("/v1//customers/c1", "/v1/customers/c1"),
    ("/v1/customers/./c1", "/v1/customers/c1"),
    ("/v1/customers/x/../c1", "/v1/customers/c1"),
    ("/v1/%63ustomers/c1", "/v1/customers/c1"),
    ("/v1/customers/%63%31", "/v1/customers/c1"),
    ("/v1/customers/c1?a=1&b=%2F", "/v1/customers/c1?a=1&b=%2F"),
])
def test_upstream_receives_the_checked_path(gw, get, raw, normalized):
    tok = gw.mint(methods="GET", paths=TOKEN_PATHS)
    echo = echo_of(get("api.example.com", raw, [("Authorization", f"Bearer {tok}")]))
    assert echo["auth_check"] == "bearer-ok"
    assert echo["request_uri"] == normalized, echo


ESCAPES = [
    "/v1/customers/../invoices",
    "/v1/customers/%2e%2e/invoices",
    "/v1/customers/%2E%2E/invoices",
    "/v1/customers/.%2e/invoices",
    "/v1/customers%2F..%2Finvoices",
    "/v1/customers/..%2Finvoices",
    "/v1/customers/%2e%2e%2finvoices",
    "/v1/customers/..\\invoices",
    "/v1/customers/%5C..%5Cinvoices",
    "/v1/customers/../../v1/invoices",
    "/v1/customers/c1/../../invoices",
    "//v1/invoices",
    "/v1/customers/%00/../../invoices",
]


@pytest.mark.parametrize("raw", ESCAPES)
def test_path_escape_does_not_pass_a_token_caveat(gw, get, nginx, raw):
    tok = gw.mint(methods="GET", paths=TOKEN_PATHS)
    r = get("api.example.com", raw, [("Authorization", f"Bearer {tok}")])
    if r.status == 200:  # only acceptable when what went upstream is inside the caveat
        uri = r.json()["request_uri"]
        assert uri.startswith("/v1/customers/"), (raw, uri)
        assert ".." not in uri and "%2" not in uri.lower() and "//" not in uri, (raw, uri)
    else:
        assert r.status in (400, 403), (raw, r)


RULE_ESCAPES = [
    "/v1/customers/../transfers/t1",
    "/v1/customers/%2e%2e/transfers/t1",
    "/v1/%74ransfers/t1",
    "//v1/transfers/t1",
    "/v1//transfers/t1",
    "/v1/./transfers/t1",
    "/v1/transfers",
    "/v1/transfers/",
    "/v1/transfers%2Ft1",
]


@pytest.mark.parametrize("raw", RULE_ESCAPES)
def test_path_escape_does_not_pass_a_service_rule(gw, get, raw):
    """[[service.deny]] paths = ["/v1/transfers/**"], no token involved (rules apply regardless)."""
    r = get("api.example.com", raw)
    assert r.status in (400, 403), (raw, r)


# ---------------------------------------------------------------- 8. request smuggling / malformed HTTP

def _smuggle_variants(host):
    h = f"Host: {host}\r\n"
    return {
        "cl+te": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
        "te+cl": f"POST /record/s HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX",
        "duplicate-cl": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: 4\r\nContent-Length: 5\r\n\r\nAAAAA",
        "duplicate-cl-same": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: 4\r\nContent-Length: 4\r\n\r\nAAAA",
        "cl-list": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: 4, 5\r\n\r\nAAAAA",
        "cl-plus": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: +4\r\n\r\nAAAA",
        "cl-hex": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: 0x4\r\n\r\nAAAA",
        "cl-negative": f"POST /record/s HTTP/1.1\r\n{h}Content-Length: -1\r\n\r\n",
        "te-not-chunked-last": f"POST /record/s HTTP/1.1\r\n{h}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "te-obfuscated": f"POST /record/s HTTP/1.1\r\n{h}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "bare-lf": f"GET /record/s HTTP/1.1\n{h.strip()}\nConnection: close\n\n",
        "bare-lf-in-header": f"GET /record/s HTTP/1.1\r\n{h}X-A: b\nX-B: c\r\n\r\n",
        "bare-cr": f"GET /record/s HTTP/1.1\r\n{h}X-A: b\rX-B: c\r\n\r\n",
        "obs-fold": f"GET /record/s HTTP/1.1\r\n{h}X-A: b\r\n  folded\r\n\r\n",
        "obs-fold-tab": f"GET /record/s HTTP/1.1\r\n{h}X-A: b\r\n\tfolded\r\n\r\n",
        "space-before-colon": f"GET /record/s HTTP/1.1\r\n{h}X-A : b\r\n\r\n",
        "space-in-name": f"GET /record/s HTTP/1.1\r\n{h}Bad Header: b\r\n\r\n",
        "bad-name-char": f"GET /record/s HTTP/1.1\r\n{h}X[A]: b\r\n\r\n",
        "empty-name": f"GET /record/s HTTP/1.1\r\n{h}: b\r\n\r\n",
        "nul-in-value": f"GET /record/s HTTP/1.1\r\n{h}X-A: b\x00c\r\n\r\n",
        "nul-in-target": f"GET /record/s\x00x HTTP/1.1\r\n{h}\r\n",
        "te-on-http10": f"POST /record/s HTTP/1.0\r\n{h}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "duplicate-host": f"GET /record/s HTTP/1.1\r\n{h}Host: other.example.com\r\n\r\n",
        "no-host": "GET /record/s HTTP/1.1\r\nX-A: b\r\n\r\n",
        "space-in-target": f"GET /record/s x HTTP/1.1\r\n{h}\r\n",
    }


SMUGGLE_NAMES = list(_smuggle_variants("x"))
# 400 everywhere, except where RFC 9110/9112 name another status for the same refusal
SMUGGLE_STATUS = {"te-obfuscated": (400, 501), "te-not-chunked-last": (400, 501), "no-host": (400, 421), "duplicate-host": (400, 421)}


def _tunnel_sending(gw, host, req):
    """A TLS tunnel to host:443 through the gateway, with `req` sent in it; the caller closes it."""
    t = gw.tunnel(f"{host}:443")
    try:
        assert t.ok, t.connect
        t.start_tls(host, gw.ca_path)
        t.send(req)
    except BaseException:
        t.close()
        raise
    return t


@pytest.mark.parametrize("name", SMUGGLE_NAMES)
def test_malformed_request_400_never_reaches_upstream(gw, pyup, name):
    req = _smuggle_variants("stream.example.com")[name].encode("latin-1")
    pyup.clear()
    t = _tunnel_sending(gw, "stream.example.com", req)
    try:
        try:
            r = t.response()
        except (ConnectionError, ssl.SSLError, OSError) as e:
            pytest.fail(f"{name}: connection dropped without a 400 ({e!r})")
        assert r.status in SMUGGLE_STATUS.get(name, (400,)), (name, r)
        gwlib.error_body_ok(r)
        assert t.closed_by_peer(), f"{name}: the connection stayed open after an ambiguous request"
    finally:
        t.close()
    time.sleep(0.3)
    assert pyup.records() == [], f"{name}: reached the upstream: {pyup.records()}"


def test_well_formed_control_reaches_upstream(gw, pyup):
    """Control for the smuggling tests: the same request, well formed, does reach the recorder."""
    pyup.clear()
    r = gw.get("stream.example.com", "/record/s", method="POST", body=b"AAAA")
    assert r.status == 200 and r.json()["requestline"] == "POST /record/s HTTP/1.1"
    assert len(pyup.records()) == 1


_PIECES_REQUEST = (b"POST /record/p HTTP/1.1\r\nHost: stream.example.com\r\n"
                   b"Content-Length: 4\r\n\r\nAAAA")


@pytest.mark.parametrize("cut", [1, 10, 40, 60, 69, 70, 71, 72])
def test_request_head_arriving_in_pieces_is_read_whole(gw, pyup, cut):
    """A head that arrives in several TLS records (cut inside the request line, a field, the
    final CRLF CRLF, or right after it) is the same request as one sent whole, twice on one
    connection. The gateway reads what is there without waiting and waits only for the rest;
    the pause only makes that wait likely, the outcome must not depend on it."""
    pyup.clear()
    t = _tunnel_sending(gw, "stream.example.com", b"")
    try:
        for _ in range(2):
            t.send(_PIECES_REQUEST[:cut])
            time.sleep(0.05)
            r = t.request(_PIECES_REQUEST[cut:])
            assert r.status == 200, (cut, r)
            assert r.json()["requestline"] == "POST /record/p HTTP/1.1"
    finally:
        t.close()
    assert len(pyup.records()) == 2


@pytest.mark.parametrize("cut", [30, 58, 62])
def test_bad_request_head_arriving_in_pieces_is_refused(gw, pyup, cut):
    """The same refusal for a head whose bad byte (a bare LF in a field) comes after a pause."""
    req = _PIECES_REQUEST.replace(b"Content-Length: 4\r\n",
                                  b"X-Odd: a\nb\r\nContent-Length: 4\r\n")
    pyup.clear()
    t = _tunnel_sending(gw, "stream.example.com", req[:cut])
    try:
        time.sleep(0.05)
        r = t.request(req[cut:])
        assert r.status == 400, (cut, r)
        gwlib.error_body_ok(r)
        assert t.closed_by_peer()
    finally:
        t.close()
    assert pyup.records() == []


def _record_get(name):
    return f"GET /record/{name} HTTP/1.1\r\nHost: stream.example.com\r\n\r\n".encode()


def _assert_recorded_answer(r, name):
    assert r.status == 200, (name, r)
    assert r.json()["requestline"] == f"GET /record/{name} HTTP/1.1"


def test_keep_alive_reads_after_a_drained_socket(gw, pyup):
    """The gateway waits for the reactor instead of trying a read once it knows the agent's socket
    is empty. Bytes already received must still be served at once, and bytes that arrive later
    must wake it: two requests in one TLS write (the second already buffered when the first is
    answered), then a request cut in three pieces with pauses, then one after an idle pause."""
    pyup.clear()
    t = _tunnel_sending(gw, "stream.example.com", _record_get("a") + _record_get("b"))
    try:
        _assert_recorded_answer(t.response(), "a")
        _assert_recorded_answer(t.response(), "b")
        req = _record_get("c")
        for piece in (req[:5], req[5:30]):
            t.send(piece)
            time.sleep(0.05)
        _assert_recorded_answer(t.request(req[30:]), "c")
        time.sleep(0.2)
        _assert_recorded_answer(t.request(_record_get("d")), "d")
    finally:
        t.close()
    assert len(pyup.records()) == 4


def test_request_followed_by_a_close_is_answered_then_the_connection_ends(gw, pyup):
    """An agent that sends a request and closes its side right behind it (a TCP FIN with no TLS
    close_notify) gets the answer, and the gateway then ends the connection at once, not after
    the keep-alive idle timeout (60 s): the FIN is read together with the request, so no later
    readiness report announces it. The gateway is paused while both are sent, so that it
    receives them in one read whatever the machine's load."""
    pyup.clear()
    t = _tunnel_sending(gw, "stream.example.com", b"")
    try:
        os.kill(gw.proc.pid, signal.SIGSTOP)
        try:
            t.send(_record_get("fin"))
            t.tls.shutdown(socket.SHUT_WR)  # drops the TLS layer: FIN without close_notify
            time.sleep(0.1)
        finally:
            os.kill(gw.proc.pid, signal.SIGCONT)
        # The TLS layer is gone on our side: count the answer's encrypted bytes, then the end.
        received = 0
        deadline = time.monotonic() + 10
        ended = False
        while time.monotonic() < deadline:
            t.tls.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = socket.socket.recv(t.tls, 65536)
            except socket.timeout:
                break
            except ConnectionError:
                ended = True
                break
            if not chunk:
                ended = True
                break
            received += len(chunk)
        assert received > 0, "no answer"
        assert ended, "the gateway kept the connection after the agent's FIN"
    finally:
        t.close()
    assert len(pyup.records()) == 1


def test_zero_padded_content_length_frames_the_body(gw, pyup):
    """RFC 9110 allows any number of leading zeros in Content-Length. Read as absent, the body
    (here a whole second request) would be parsed as the next request."""
    smuggled = b"GET /record/smuggled HTTP/1.1\r\nHost: stream.example.com\r\n\r\n"
    req = (b"POST /upload HTTP/1.1\r\nHost: stream.example.com\r\nContent-Length: "
           + b"0" * 40 + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled)
    pyup.clear()
    t = _tunnel_sending(gw, "stream.example.com", req)
    try:
        r = t.response()
        assert r.status == 200, r
        got = r.json()
        assert got["bytes"] == len(smuggled)
        assert got["sha256"] == hashlib.sha256(smuggled).hexdigest()
    finally:
        t.close()
    time.sleep(0.3)
    lines = [rec["requestline"] for rec in pyup.records()]
    assert lines == ["POST /upload HTTP/1.1"], lines


def test_oversized_headers_rejected(gw, pyup):
    pyup.clear()
    big = gwlib.http_request("GET", "/record/big", "stream.example.com",
                             [("X-Big", "a" * 200_000), ("Connection", "close")])
    t = gw.tunnel("stream.example.com:443")
    try:
        t.start_tls("stream.example.com", gw.ca_path)
        try:
            t.send(big)
            r = t.response()
            assert r.status in (431, 400), r
        except (ConnectionError, ssl.SSLError, OSError):
            pass  # closing on an oversized head is acceptable; forwarding it is not
    finally:
        t.close()
    many = gwlib.http_request("GET", "/record/many", "stream.example.com",
                              [(f"X-H{i}", "v") for i in range(2000)] + [("Connection", "close")])
    t = gw.tunnel("stream.example.com:443")
    try:
        t.start_tls("stream.example.com", gw.ca_path)
        try:
            t.send(many)
            r = t.response()
            assert r.status in (431, 400), r
        except (ConnectionError, ssl.SSLError, OSError):
            pass
    finally:
        t.close()
    assert pyup.records() == []
    assert gw.proc.poll() is None


# ---------------------------------------------------------------- 6. upstream TLS always verified

def test_upstream_cert_from_wrong_ca_is_502(gw, get, nginx):
    tok = gw.mint(hosts="rogue.example.com", methods="GET")
    r = get("rogue.example.com", "/v1/x", [("Authorization", f"Bearer {tok}")])
    assert r.status == 502, r
    gwlib.error_body_ok(r)
    assert b'"rogue":true' not in r.body  # the rogue upstream's answer never arrives


def test_upstream_cert_for_other_name_is_502(gw, get):
    """mismatch.example.com dials nginx whose certificate does not name it."""
    r = get("mismatch.example.com", "/v1/x")
    assert r.status == 502, r
    gwlib.error_body_ok(r)


def test_credential_host_with_rogue_upstream_is_502(make_gateway, nginx):
    """api.example.com itself served by a certificate from another CA: 502, the secret is never sent."""
    g = make_gateway(api_connect_to=f"127.0.0.1:{nginx.rogue_port}")
    tok = g.mint(methods="GET")
    r = g.get("api.example.com", "/v1/rogue", [("Authorization", f"Bearer {tok}")])
    assert r.status == 502, r


# ---------------------------------------------------------------- 7. private / metadata addresses

def test_loopback_upstream_refused_without_allow_private(gw, get, nginx):
    m = "priv" + uuid.uuid4().hex[:8]
    tok = gw.mint(hosts="noprivate.example.com", methods="GET")
    for headers in ([], [("Authorization", f"Bearer {tok}")]):
        r = get("noprivate.example.com", f"/v1/{m}", headers)
        assert r.status in (403, 502), r
        body = gwlib.error_body_ok(r)
        assert "address" in json.dumps(body).lower() or "private" in json.dumps(body).lower(), body
    time.sleep(0.2)
    assert m not in nginx.access_log(), "the request reached a loopback upstream without allow_private"


METADATA_TARGETS = {
    "metadata-v4": "169.254.169.254:443",
    "metadata-v4-mapped": "[::ffff:169.254.169.254]:443",
    "metadata-aws-v6": "[fd00:ec2::254]:443",
    "private-10": "10.0.0.1:443",
    "private-192": "192.168.1.1:443",
    "linklocal-v6": "[fe80::1]:443",
    "unspecified": "0.0.0.0:443",
}


def test_metadata_and_private_addresses_refused_allowed_host_tunneled(gw, pki, tmp_path):
    """Run in a fresh network namespace (only lo, up) so nothing can leave the machine even if the guard
    were broken: there a dial attempt fails (502 connect error) while the guard answers address_forbidden."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("needs root and unshare (CI runs as root)")
    svc = '[allow]\nhosts = ["100.0.0.1"]\n'
    for name, target in METADATA_TARGETS.items():
        svc += textwrap.dedent(f"""
            [[service]]
            name = "{name}"
            hosts = ["{name}.example.com"]
            credential = {{ type = "bearer", secret = "file:api.key" }}
            connect_to = "{target}"
            """)
    cfg_dir = tmp_path / "ns"
    cfg_dir.mkdir()
    gwlib.write_secrets(cfg_dir / "secrets")
    cfg = cfg_dir / "cloakroom.toml"
    cfg.write_text(textwrap.dedent(f"""
        [gateway]
        listen = "127.0.0.1:0"
        audit_log = "{cfg_dir / 'audit.jsonl'}"
        data_dir = "{cfg_dir / 'data'}"
        [secrets]
        dir = "{cfg_dir / 'secrets'}"
        """) + svc)
    p = subprocess.run(
        ["unshare", "--net", "--", sys.executable, str(HERE / "netns_probe.py"), gwlib.BIN, str(cfg),
         json.dumps([f"{n}.example.com" for n in METADATA_TARGETS]), str(pki.root)],
        capture_output=True, text=True, timeout=90,
        env={**gw.env, "PYTHONPATH": str(HERE)},
    )
    gw.record("netns probe", p.stdout + p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    results = json.loads(p.stdout)
    tunnel = results.pop("tunnel")
    plain = results.pop("plain")
    halfclose = results.pop("halfclose")
    # The tunnel passes the client's EOF on and still carries the server's answer after it.
    assert halfclose.get("connect") == 200, halfclose
    assert halfclose["answer"].endswith(f"got {halfclose['upload']} bytes"), halfclose
    assert halfclose["answer_bytes"] == 6000 + len(f"got {halfclose['upload']} bytes"), halfclose
    tunnels = [json.loads(line) for line in (cfg_dir / "audit.jsonl").read_text().splitlines()
               if '"kind":"tunnel"' in line]
    assert any(r["decision"] == "tunnel" and r["bytes_in"] == halfclose["upload"] for r in tunnels), tunnels
    # Absolute-form http:// to the [allow] host: forwarded as plain HTTP with the normalized path,
    # and the proxy's own credentials never reach the upstream.
    assert plain.get("status") == 200, plain
    assert plain["echo"]["path"] == "/plain/y?q=1", plain
    assert not any(k.lower() == "proxy-authorization" for k, _ in plain["echo"]["headers"]), plain
    # [allow] host on a public address: a plain tunnel, the client sees the upstream's own certificate
    # and the upstream gets the request untouched (no token processing on allowed hosts)
    assert tunnel.get("connect") == 200, tunnel
    assert tunnel["issuer"] == "Cloakroom E2E Test Upstream CA", tunnel
    assert ["Authorization", "Bearer acm_not_even_looked_at"] in tunnel["echo"]["headers"], tunnel
    bad = {h: r for h, r in results.items()
           if not (r["status"] in (403, 502) and "address_forbidden" in (r["body"] + r["error_header"]))}
    assert not bad, f"not refused by the address guard: {json.dumps(bad, indent=1)}\n{p.stderr[-3000:]}"


# ---------------------------------------------------------------- 1. the secret never reaches the client

def test_echoed_secret_is_redacted_in_body_and_headers(gw, get):
    tok = gw.mint(hosts="api.example.com,keys.example.com", methods="GET")
    r = get("api.example.com", "/v1/echo", [("Authorization", f"Bearer {tok}")])
    assert r.status == 200
    assert S["bearer"] not in r.text and S["bearer"] not in r.raw_head.decode("latin-1")
    assert gwlib.is_redacted_bearer(r.headers["x-echo-authorization"])
    assert gwlib.is_redacted_bearer(r.json()["authorization"])
    r = get("keys.example.com", "/v1/echo", [("x-api-key", tok)])
    assert S["x_api_key"] not in r.text + r.raw_head.decode("latin-1")
    assert r.headers["x-echo-api-key"] == stars(S["x_api_key"])
    # the bytes the client received are exactly as long as what the upstream sent
    assert int(r.headers.get("content-length", len(r.body))) == len(r.body)


def test_secret_redacted_in_large_streamed_echo(gw, get, pyup):
    """The py upstream echoes the headers it received; the secret lands mid-body of a chunked reply."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    r = get("stream.example.com", "/record/echo", [("Authorization", f"Bearer {tok}")])
    assert r.status == 200
    assert S["bearer"] not in r.text
    auth = [v for k, v in r.json()["headers"] if k.lower() == "authorization"]
    assert len(auth) == 1 and gwlib.is_redacted_bearer(auth[0]), auth


def test_hop_by_hop_fields_never_reach_the_upstream(gw, pyup):
    """Connection, the fields it names, and the fixed hop-by-hop fields stay at Cloakroom; the
    rest arrive. (A Connection naming Host or the framing fields is refused by the validator.)"""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    r = gw.get("stream.example.com", "/record/echo", [
        ("Authorization", f"Bearer {tok}"),
        ("Connection", "X-Private"),
        ("X-Private", "drop-me"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Kept", "kept"),
    ])
    assert r.status == 200, r
    received = {k.lower(): v for k, v in r.json()["headers"]}
    for gone in ("connection", "x-private", "keep-alive", "te", "trailer", "proxy-connection",
                 "proxy-authorization"):
        assert gone not in received, (gone, received)
    assert received["x-kept"] == "kept"
    assert received["host"].startswith("stream.example.com")


@pytest.mark.parametrize("delay_ms", [0, 100])
def test_bytes_an_upstream_sends_past_a_response_never_answer_another_request(gw, pyup, delay_ms):
    """An upstream that sends a second, unasked-for response, with the first (already read when
    the connection goes back to the pool) or 100 ms later (arriving while it sits there): the
    connection is not reused, so the stray bytes cannot become the response to the next request
    (which may be another agent's)."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    auth = [("Authorization", f"Bearer {tok}")]
    first = gw.get("stream.example.com", f"/extra?delay_ms={delay_ms}", auth)
    assert first.status == 200 and first.json() == {"first": True}, first
    time.sleep(0.3)  # the stray response has arrived by now
    for _ in range(4):  # whichever worker and pooled connection the next requests get
        nxt = gw.get("stream.example.com", "/record/next", auth)
        assert nxt.status == 200, nxt
        assert nxt.body != b"stray", nxt.body
        assert nxt.json()["requestline"].startswith("GET /record/next "), nxt.body


def test_bytes_past_a_content_length_never_reach_the_client(gw, pyup):
    """Stray bytes in the same record as a response body: exactly Content-Length bytes go to the
    agent, so the next response on its connection is the one to its next request."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    auth = [("Authorization", f"Bearer {tok}")]
    with gw.tunnel("stream.example.com:443") as t:
        assert t.ok
        t.start_tls("stream.example.com", gw.ca_path)
        first = t.request(gwlib.http_request("GET", "/extra?together=1", "stream.example.com", auth))
        assert first.status == 200 and first.json() == {"first": True}, first
        nxt = t.request(gwlib.http_request("GET", "/record/next", "stream.example.com", auth))
        assert nxt.status == 200, nxt
        assert nxt.json()["requestline"].startswith("GET /record/next "), nxt.body


def test_error_bodies_and_logs_never_carry_secret_or_token(gw, get):
    tok = gw.mint(methods="GET")
    for r in (
        get("api.example.com", "/v1/x", [("Authorization", f"Bearer {tok}x")]),
        get("api.example.com", "/v1/x", [("Authorization", f"Bearer {tok}")], method="DELETE"),
    ):
        assert r.status in (401, 403)
        assert tok not in r.text and S["bearer"] not in r.text
    assert tok not in gw.stderr_text()
    assert tok not in gw.audit_path.read_text()


def test_gateway_process_never_dumps_core(gw):
    """Invariant 1 (core dumps): the serving process has a zero core-file limit and is not
    dumpable, so a crash or another process of the same user cannot read secrets out of it."""
    pid = gw.proc.pid
    limits = open(f"/proc/{pid}/limits").read()
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"], core
    # Not dumpable: /proc/<pid>/ entries become owned by root and ptrace attach is refused to
    # non-root; the kernel reports it through the 'dumpable' check on /proc/<pid>/coredump_filter
    # only indirectly, so check the owner of /proc/<pid>/mem when we are not root.
    import os
    if os.geteuid() != 0:
        assert os.stat(f"/proc/{pid}/mem").st_uid == 0


@pytest.mark.parametrize("first_bytes", [
    b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n",           # plaintext instead of TLS
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a ClientHello cut short
    b"\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff",                     # a record that is no handshake
])
def test_malformed_agent_tls_is_dropped_and_the_gateway_keeps_serving(gw, first_bytes):
    """Cloakroom's own TLS stream (TlsStream) on the agent side: garbage after CONNECT ends that
    connection (closed, or a TLS alert), within the handshake timeout, and nothing else."""
    t = gw.tunnel("api.example.com:443")
    try:
        assert t.ok, t.connect
        t.send(first_bytes)
        if not first_bytes.startswith(b"GET"):
            t.sock.shutdown(socket.SHUT_WR)  # the rest of the ClientHello never comes
        # At most a TLS alert (content type 21), then the connection ends.
        t.sock.settimeout(10)
        received = b""
        try:
            while chunk := t.sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
        assert received == b"" or received[0] == 0x15, received[:40]
    finally:
        t.close()
    tok = gw.mint(hosts="api.example.com", methods="GET")
    r = gw.get("api.example.com", "/v1/ok", [("Authorization", f"Bearer {tok}")])
    assert r.status == 200, r


def test_client_hello_sent_with_the_connect_is_used(gw):
    """A client may send its ClientHello right behind CONNECT without waiting for the 200: those
    bytes arrive with the CONNECT head and must start the TLS handshake (TlsStream early input)."""
    tok = gw.mint(hosts="api.example.com", methods="GET")
    ctx = ssl.create_default_context(cafile=str(gw.ca_path))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="api.example.com")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        sock.sendall(b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"
                     + hello)
        buffered = b""
        while b"\r\n\r\n" not in buffered:
            chunk = sock.recv(4096)
            assert chunk, "closed before the CONNECT response"
            buffered += chunk
        head, _, rest = buffered.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        incoming.write(rest)

        def pump_until(done):
            while True:
                try:
                    return done()
                except ssl.SSLWantReadError:
                    data = outgoing.read()
                    if data:
                        sock.sendall(data)
                    chunk = sock.recv(65536)
                    assert chunk, "closed during the exchange"
                    incoming.write(chunk)

        pump_until(tls.do_handshake)
        sock.sendall(outgoing.read())
        tls.write(gwlib.http_request("GET", "/v1/ok", "api.example.com",
                               [("Authorization", f"Bearer {tok}"), ("Connection", "close")]))
        sock.sendall(outgoing.read())
        response = b""
        while b"\r\n\r\n" not in response:
            response += pump_until(lambda: tls.read(65536))
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
    finally:
        sock.close()
