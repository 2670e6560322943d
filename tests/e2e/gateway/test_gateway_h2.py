"""HTTP/2 on intercepted connections (docs/architecture.md, "HTTP/2"): real clients (curl --http2, nghttp,
python3-h2) through the forward proxy. Every stream is one exchange: injection, redaction, refusals
on the stream alone, one audit record each; and the limits that stop the known HTTP/2 attacks."""
import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid

import hpack
import pytest
from hyperframe import frame as hf

import gwlib
import h2lib

S = gwlib.SECRETS
ENHANCE_YOUR_CALM = 0xB
REFUSED_STREAM = 0x7
PROTOCOL_ERROR = 0x1


def audit_since(gw, n0, path_prefix):
    return [r for r in gw.audit()[n0:] if r.get("path", "").startswith(path_prefix)]


def wait_audit_paths(gw, n0, path_prefix, count, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        recs = audit_since(gw, n0, path_prefix)
        if len(recs) >= count or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


# ---------------------------------------------------------------- curl --http2

def test_curl_lists_http2():
    out = subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout
    assert "HTTP2" in out, out


def test_curl_http2_injects_and_redacts_an_echoed_secret(gw, pyup):
    """curl negotiates h2 with the gateway; the upstream gets the real key and echoes it in its
    reason phrase, a field name, a field value and the body: none of it reaches curl."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    n0 = len(gw.audit())
    p = gw.curl("--http2", "-i", "--suppress-connect-headers", "-w", "\n%{http_version}",
                "https://stream.example.com/echo-head",
                "-H", f"Authorization: Bearer {tok}")
    out = p.stdout.decode("latin-1")
    assert out.startswith("HTTP/2 200"), out[:200]
    assert out.endswith("\n2"), out[-50:]
    assert S["bearer"] not in out
    head, _, body = out.partition("\r\n\r\n")
    assert "x-echo: " + "Bearer " + gwlib.stars(S["bearer"]) in head.lower() or \
        "x-echo: " + gwlib.stars("Bearer " + S["bearer"]) in head.lower(), head
    assert "via: 1.1 cloakroom" in head.lower()
    # the upstream received the real key (it echoed something as long as it), not the token
    assert gwlib.is_redacted_bearer(json.loads(body.rsplit("\n", 1)[0])["authorization"])
    recs = wait_audit_paths(gw, n0, "/echo-head", 1)
    assert len(recs) == 1, recs
    assert recs[0]["decision"] == "allow" and recs[0]["status"] == 200, recs[0]
    assert recs[0]["token_id"], recs[0]


def test_curl_http2_large_response_and_large_upload(gw, pyup, tmp_path):
    tok = gw.mint(hosts="stream.example.com")
    auth = ["-H", f"Authorization: Bearer {tok}"]
    n = 3_000_000
    p = gw.curl("--http2", "-o", str(tmp_path / "down"), "-w", "%{http_version} %{http_code}",
                f"https://stream.example.com/bytes?n={n}", *auth)
    assert p.stdout.decode() == "2 200"
    expected = (bytes(range(256)) * (n // 256 + 1))[:n]
    assert (tmp_path / "down").read_bytes() == expected
    # a body that ends when the upstream closes: the agent's stream ends cleanly with it
    p = gw.curl("--http2", "-o", str(tmp_path / "close"), "-w", "%{http_code}",
                "https://stream.example.com/until-close?n=1500000", *auth)
    assert p.stdout.decode() == "200"
    assert len((tmp_path / "close").read_bytes()) == 1_500_000

    upload = tmp_path / "up"
    data = hashlib.sha256(b"seed").digest() * (5_000_000 // 32)
    upload.write_bytes(data)
    p = gw.curl("--http2", "--data-binary", f"@{upload}", "https://stream.example.com/upload", *auth)
    got = json.loads(p.stdout)
    assert got["bytes"] == len(data) and got["sha256"] == hashlib.sha256(data).hexdigest(), got


# ---------------------------------------------------------------- python3-h2: streams on one connection

def test_refused_streams_beside_a_served_one_on_one_connection(gw, pyup):
    """A wrong token (401), a wrong :authority (421) and a denied path each refuse their own stream;
    the sibling is served and the connection goes on. One audit record per stream."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    m = uuid.uuid4().hex[:8]
    n0 = len(gw.audit())
    auth = [("authorization", f"Bearer {tok}")]
    with h2lib.Client(gw, "stream.example.com") as c:
        ok = c.request("GET", f"/record/{m}-ok", auth)
        bad = c.request("GET", f"/record/{m}-bad", [("authorization", f"Bearer {tok}x")])
        misdirected = c.request("GET", f"/record/{m}-421", auth, authority="api.example.com")
        forbidden = c.request("POST", f"/record/{m}-post", auth, body=b"x")
        res = c.wait([ok, bad, misdirected, forbidden])
        assert res[ok].status == 200, res[ok]
        assert gwlib.is_redacted_bearer(
            [v for k, v in res[ok].json()["headers"] if k.lower() == "authorization"][0])
        assert res[bad].status == 401 and gwlib.error_body_ok(res[bad])["error"] == "token_invalid"
        assert res[misdirected].status == 421, res[misdirected]
        gwlib.error_body_ok(res[misdirected])
        assert res[forbidden].status == 403, res[forbidden]
        assert gwlib.error_body_ok(res[forbidden])["error"] == "token_forbidden"
        again = c.get(f"/record/{m}-again", auth)
        assert again.status == 200
    # one record per stream (a refused one is recorded before its path is known)
    recs = gw.wait_audit(n0 + 5)[n0:]
    assert sorted(r["status"] for r in recs) == [200, 200, 401, 403, 421], recs
    assert {r["decision"] for r in recs if r["status"] != 200} == {"deny"}, recs
    assert sorted(r["path"] for r in recs if r["status"] == 200) == [f"/record/{m}-again",
                                                                     f"/record/{m}-ok"]
    # nothing refused reached the upstream
    seen = [r["requestline"].split()[1] for r in pyup.server.records if m in r["requestline"]]
    assert sorted(seen) == sorted([f"/record/{m}-ok", f"/record/{m}-again"]), seen


def test_a_refused_upload_is_drained_and_the_connection_goes_on(gw, pyup):
    """A stream refused with its body still coming: the gateway answers at once and keeps opening the
    windows for the body it drops, so a 3 MB upload (12x the stream window) finishes and the next
    streams on the connection are served."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    body = b"z" * 3_000_000
    uploads_before = sum("/upload" in r["requestline"] for r in pyup.server.records)
    with h2lib.Client(gw, "stream.example.com") as c:
        for _ in range(2):
            r = c.get("/upload", [("authorization", f"Bearer {tok}")], method="POST", body=body)
            assert r.status == 403 and gwlib.error_body_ok(r)["error"] == "token_forbidden", r
        ok = c.get("/record/after-refused-upload", [("authorization", f"Bearer {tok}")])
        assert ok.status == 200, ok
    assert sum("/upload" in r["requestline"] for r in pyup.server.records) == uploads_before


def test_many_concurrent_streams_on_one_connection(gw, pyup):
    """30 streams at once, each waiting 0.5 s upstream: served concurrently, one record each."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    n0 = len(gw.audit())
    with h2lib.Client(gw, "stream.example.com") as c:
        start = time.monotonic()
        sids = [c.request("GET", f"/slow?ms=500&i={i}", [("authorization", f"Bearer {tok}")])
                for i in range(30)]
        res = c.wait(sids, timeout=30)
        elapsed = time.monotonic() - start
    assert all(r.status == 200 and r.json() == {"slow": True} for r in res.values()), res
    assert elapsed < 5, f"streams were not served concurrently: {elapsed:.1f} s"
    recs = wait_audit_paths(gw, n0, "/slow", 30)
    assert len(recs) == 30 and all(r["decision"] == "allow" for r in recs), recs


def test_trailers_of_a_chunked_upstream_become_h2_trailers_redacted(gw, pyup):
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    with h2lib.Client(gw, "stream.example.com") as c:
        r = c.get("/trailers", [("authorization", f"Bearer {tok}"), ("te", "trailers")])
    assert r.status == 200, r
    trailers = dict(r.trailers)
    assert trailers.get("grpc-status") == "0", r.trailers
    assert gwlib.is_redacted_bearer(trailers["x-echo-auth"]), r.trailers
    assert S["bearer"] not in r.text and r.text.startswith("body echoes ****")


def test_request_body_without_length_goes_upstream_chunked(gw, pyup):
    tok = gw.mint(hosts="stream.example.com")
    data = b"0123456789" * 100_000
    with h2lib.Client(gw, "stream.example.com") as c:
        r = c.get("/upload", [("authorization", f"Bearer {tok}")], method="POST", body=data)
    got = r.json()
    assert got == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                   "framing": "chunked"}, got


def test_agent_reset_mid_response_is_audited_and_siblings_go_on(gw, pyup):
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    auth = [("authorization", f"Bearer {tok}")]
    n0 = len(gw.audit())
    with h2lib.Client(gw, "stream.example.com") as c:
        big = c.request("GET", "/bytes?n=20000000", auth)
        while c.results[big].status is None:
            assert c.pump(2)
        c.conn.reset_stream(big)
        c.flush()
        r = c.get("/record/after-reset", auth)
        assert r.status == 200
    recs = wait_audit_paths(gw, n0, "/bytes", 1)
    assert len(recs) == 1 and recs[0]["decision"] == "error", recs


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_agent_reader_bounds_what_the_gateway_buffers(gw, pyup):
    """An agent that stops reading (its windows stay shut) makes its stream stop reading the
    upstream: a 48 MB response does not pile up in the gateway, and other agents are served."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    auth = [("authorization", f"Bearer {tok}")]
    before = rss_kib(gw.proc.pid)
    with h2lib.Client(gw, "stream.example.com", auto_ack=False) as c:
        sid = c.request("GET", "/bytes?n=48000000", auth)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            c.pump(0.2)
        grown = rss_kib(gw.proc.pid) - before
        assert c.results[sid].status == 200 and not c.results[sid].done
        assert len(c.results[sid].body) <= 65535, len(c.results[sid].body)
    assert grown < 16 * 1024, f"the gateway grew by {grown} KiB for a reader that does not read"
    assert served(gw)


def test_a_slow_stream_slows_only_itself(gw, pyup):
    """One stream whose own window stays shut (the agent reads the others): it stops reading its
    upstream, the gateway does not buffer its 48 MB, and sibling streams on the same connection are
    served meanwhile."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    auth = [("authorization", f"Bearer {tok}")]
    before = rss_kib(gw.proc.pid)
    with h2lib.Client(gw, "stream.example.com") as c:
        slow = c.conn.get_next_available_stream_id()
        c.stalled.add(slow)
        assert c.request("GET", "/bytes?n=48000000", auth) == slow
        for i in range(5):
            sibling = c.get(f"/record/sibling-{i}", auth)
            assert sibling.status == 200, sibling
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            c.pump(0.2)
        grown = rss_kib(gw.proc.pid) - before
        assert not c.results[slow].done and len(c.results[slow].body) <= 65535
        big = c.get("/bytes?n=2000000", auth)
        assert big.status == 200 and len(big.body) == 2_000_000
    assert grown < 16 * 1024, f"the gateway grew by {grown} KiB for one slow stream"


# ---------------------------------------------------------------- nghttp (nghttp2-client)

class ConnectForwarder:
    """A local port whose connections are CONNECTed through the gateway to `authority`: nghttp has no
    proxy support, so it talks TLS to the gateway's interception through this."""

    def __init__(self, gw, authority):
        self.gw, self.authority = gw, authority
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            t = gwlib.Tunnel(self.gw, self.authority)
            t.file.close()
            for a, b in ((client, t.sock), (t.sock, client)):
                threading.Thread(target=self._copy, args=(a, b), daemon=True).start()

    @staticmethod
    def _copy(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()


@pytest.mark.skipif(not shutil.which("nghttp"), reason="nghttp missing: run scripts/setup-e2e")
def test_nghttp_twenty_concurrent_streams(gw, pyup):
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    fwd = ConnectForwarder(gw, "stream.example.com:443")
    n0 = len(gw.audit())
    try:
        p = subprocess.run(
            ["nghttp", "-n", "-s", "-m", "20", "-H", ":authority: stream.example.com",
             "-H", f"authorization: Bearer {tok}", f"https://127.0.0.1:{fwd.port}/echo-head"],
            capture_output=True, timeout=60)
    finally:
        fwd.close()
    gw.record("nghttp", p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr.decode()
    recs = wait_audit_paths(gw, n0, "/echo-head", 20)
    assert len(recs) == 20 and all(r["status"] == 200 and r["decision"] == "allow" for r in recs), recs


# ---------------------------------------------------------------- limits against the known attacks

def served(gw):
    """Another agent connection is served while (or after) one is attacked."""
    with h2lib.Client(gw, "stream.example.com") as c:
        return c.get("/record/bystander").status == 200


def rapid_reset(raw):
    data = b""
    for sid in range(1, 1000, 2):
        data += hf.HeadersFrame(sid, raw.headers_block("stream.example.com", "/slow?ms=2000"),
                                flags=["END_HEADERS", "END_STREAM"]).serialize()
        data += hf.RstStreamFrame(sid, error_code=0x8).serialize()
    raw.send(data)


def ping_flood(raw):
    raw.send(b"".join(hf.PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize()
                      for i in range(1000)))


def settings_flood(raw):
    raw.send(b"".join(hf.SettingsFrame(0).serialize() for _ in range(1000)))


def continuation_flood(raw):
    block = raw.headers_block("stream.example.com", "/record/cont")
    data = hf.HeadersFrame(1, block, flags=[]).serialize()
    for _ in range(100):
        data += hf.ContinuationFrame(1, raw.encoder.encode([("x-pad", "a")]), flags=[]).serialize()
    raw.send(data)


@pytest.mark.parametrize("attack", [rapid_reset, ping_flood, settings_flood, continuation_flood],
                         ids=lambda f: f.__name__)
def test_attack_ends_the_connection_with_enhance_your_calm(gw, pyup, attack):
    """The attacker's connection ends with GOAWAY ENHANCE_YOUR_CALM; an agent connected before the
    attack is still served on its connection, and a new one too."""
    with h2lib.Client(gw, "stream.example.com") as bystander:
        assert bystander.get("/record/bystander-before").status == 200
        raw = h2lib.Raw(gw, "stream.example.com")
        try:
            attack(raw)
            code, closed, frames = raw.goaway()
        finally:
            raw.close()
        assert code == ENHANCE_YOUR_CALM, [type(f).__name__ for f in frames][-5:]
        assert closed
        assert bystander.get("/record/bystander-after").status == 200
    assert served(gw)


def test_too_many_concurrent_streams_end_the_connection(gw, pyup):
    """Past the acknowledged SETTINGS_MAX_CONCURRENT_STREAMS (100) nghttp2 ends the connection with
    GOAWAY PROTOCOL_ERROR ("max concurrent streams exceeded"), before the streams cost upstream
    work; a client that keeps to the limit (100 at once) is served."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    auth = [("authorization", f"Bearer {tok}")]

    def flood(count):
        raw = h2lib.Raw(gw, "stream.example.com")
        try:
            raw.frames(0.5)  # the gateway's SETTINGS, acknowledged before the streams
            raw.send(hf.SettingsFrame(0, flags=["ACK"]).serialize())
            data = b""
            for i in range(count):
                block = raw.headers_block("stream.example.com", f"/slow?ms=300&i={i}", auth)
                data += hf.HeadersFrame(2 * i + 1, block,
                                        flags=["END_HEADERS", "END_STREAM"]).serialize()
            raw.send(data)
            # until every stream is answered or the connection ends (100 upstream dials at once
            # may wait for the py upstream's small listen backlog)
            frames, closed = [], False
            deadline = time.monotonic() + 30
            while not closed and time.monotonic() < deadline:
                more, closed = raw.frames(1)
                frames += more
                if len({f.stream_id for f in frames if isinstance(f, hf.HeadersFrame)}) == count:
                    break
            return frames, closed
        finally:
            raw.close()

    frames, closed = flood(110)
    goaways = [f for f in frames if isinstance(f, hf.GoAwayFrame)]
    assert closed and [g.error_code for g in goaways] == [PROTOCOL_ERROR], frames
    assert b"max concurrent streams" in goaways[0].additional_data
    frames, _ = flood(100)
    answered = {f.stream_id for f in frames if isinstance(f, hf.HeadersFrame)}
    assert len(answered) == 100 and not any(isinstance(f, hf.GoAwayFrame) for f in frames)
    assert served(gw)


def test_hpack_bomb_is_refused_on_its_stream(gw, pyup):
    """A 4 KB field indexed 200 times: 800 KB decoded from a tiny block. The stream gets 431 (or
    is reset), the gateway keeps nothing of it, and the connection goes on."""
    raw = h2lib.Raw(gw, "stream.example.com")
    try:
        raw.frames(0.5)
        raw.send(hf.SettingsFrame(0, flags=["ACK"]).serialize())
        big = ("x-bomb", "a" * 4000)
        block = raw.headers_block("stream.example.com", "/record/bomb", [big])
        block += b"".join(raw.encoder.encode([big]) for _ in range(200))
        raw.send(hf.HeadersFrame(1, block, flags=["END_HEADERS", "END_STREAM"]).serialize())
        frames, closed = raw.frames(3)
    finally:
        raw.close()
    heads = [f for f in frames if isinstance(f, hf.HeadersFrame) and f.stream_id == 1]
    resets = [f for f in frames if isinstance(f, hf.RstStreamFrame) and f.stream_id == 1]
    goaways = [f for f in frames if isinstance(f, hf.GoAwayFrame)]
    assert heads or resets or goaways, frames
    if heads:
        status = dict(hpack.Decoder().decode(heads[0].data))[":status"]
        assert status == "431", status
    assert not any("bomb" in r["requestline"] for r in pyup.server.records)
    assert served(gw)

