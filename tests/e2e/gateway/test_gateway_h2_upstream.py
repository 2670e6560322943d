"""The upstream's protocol is its own ALPN answer, independent of the agent's (docs/architecture.md,
"HTTP/2"): nghttpd (nghttp2-server), an HTTP/2-only TLS upstream, reached by an HTTP/1.1 client
(curl --http1.1) and an HTTP/2 one, and nginx, an HTTP/1.1-only upstream, reached by HTTP/2
clients (curl --http2, nghttp). Injection, redaction and one audit record per request either way."""
import gzip
import re
import shutil
import subprocess
import threading

import h2.events
import pytest

import gwlib
import h2lib
import upstreams

S = gwlib.SECRETS
HOST = "h2only.example.com"


class Nghttpd:
    def __init__(self, pki, root, port=None):
        self.docroot = root / "htdocs"
        self.docroot.mkdir()
        (self.docroot / "hello.txt").write_bytes(b"hello from nghttpd\n")
        self.big = bytes(range(256)) * 8000  # 2 MB
        (self.docroot / "big.bin").write_bytes(self.big)
        # A file that holds the key: what an upstream that echoes it looks like.
        (self.docroot / "leak.txt").write_text("the key is " + S["bearer"] + "\n")
        self.port = port or upstreams.free_port()
        self.lines = []
        self.arrived = threading.Condition()  # notified at each line the pump reads
        self.proc = subprocess.Popen(
            ["nghttpd", "-v", "--echo-upload", "-d", str(self.docroot), "--address=127.0.0.1",
             # few streams per connection: the gateway must open more connections, not queue
             "--max-concurrent-streams=4",
             # response trailers: one plain, one that echoes the key
             "--trailer=x-upstream-trailer: ok", f"--trailer=x-leak: {S['bearer']}",
             str(self.port), str(pki.key), str(pki.cert)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._pump, daemon=True).start()
        upstreams.wait_port(self.port, proc=self.proc)

    def _pump(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.arrived:
                self.lines.append(raw.decode("latin-1"))
                self.arrived.notify_all()

    def log(self):
        return "".join(self.lines)

    def wait_lines(self, done, since=0, timeout=20):
        """nghttpd's log lines from `since` on, once done(lines) holds (or at the timeout). The
        log reaches us through a pipe and the pump thread after nghttpd answered: a line of a
        request whose response the client already has may still be on its way."""
        with self.arrived:
            self.arrived.wait_for(lambda: done(self.lines[since:]), timeout)
            return list(self.lines[since:])

    def stop(self):
        upstreams._stop_process(self.proc)


@pytest.fixture(scope="module")
def nghttpd(pki, tmp_path_factory):
    if shutil.which("nghttpd") is None:
        pytest.skip("nghttpd missing (scripts/setup-e2e installs nghttp2-server)")
    server = Nghttpd(pki, tmp_path_factory.mktemp("nghttpd"))
    yield server
    server.stop()


def request_logged(path):
    """Whether nghttpd logged all the headers of a request for `path`: its HEADERS frame line
    comes after them."""
    def done(lines):
        at = next((i for i, line in enumerate(lines) if f":path: {path}" in line), None)
        return at is not None and any("recv HEADERS frame" in line for line in lines[at:])
    return done


def service(pki, port):
    return f"""
[[service]]
name = "h2only"
hosts = ["{HOST}"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = "127.0.0.1:{port}"
upstream_ca = {gwlib.toml_str(pki.ca)}
allow_private = true
"""


@pytest.fixture(scope="module")
def h2gw(tmp_path_factory, pki, nginx, pyup, leaks, nghttpd):
    f = gwlib.GatewayFactory(tmp_path_factory.mktemp("h2upgw"), pki, nginx, pyup, leaks)
    gw = f(extra=service(pki, nghttpd.port))
    yield gw
    f.stop_all()


@pytest.mark.parametrize("agent", ["--http1.1", "--http2"])
def test_h2_only_upstream_for_either_agent_protocol(h2gw, nghttpd, agent, tmp_path):
    gw = h2gw
    tok = gw.mint(hosts=HOST)
    auth = ["-H", f"Authorization: Bearer {tok}"]
    n0 = len(gw.audit())
    lines0 = len(nghttpd.lines)
    p = gw.curl(agent, "-i", "--suppress-connect-headers", "-w", "\n%{http_version}",
                f"https://{HOST}/hello.txt", *auth)
    out = p.stdout.decode("latin-1")
    assert out.endswith("\n" + ("1.1" if agent == "--http1.1" else "2")), out[-40:]
    assert "200" in out.split("\r\n", 1)[0], out[:200]
    assert "hello from nghttpd\n" in out
    # nghttpd logged the request it got (the whole HEADERS frame, before its answer): the real
    # key, never the token.
    log = "".join(nghttpd.wait_lines(request_logged("/hello.txt"), since=lines0))
    assert f"authorization: Bearer {S['bearer']}" in log, log
    assert tok not in log
    # a large body, and an upload echoed back
    p = gw.curl(agent, "-o", str(tmp_path / "big"), "-w", "%{http_code}",
                f"https://{HOST}/big.bin", *auth)
    assert p.stdout.decode() == "200"
    assert (tmp_path / "big").read_bytes() == nghttpd.big
    body = b"u" * 300_000
    (tmp_path / "up").write_bytes(body)
    p = gw.curl(agent, "-o", str(tmp_path / "echo"), "-w", "%{http_code}", "--data-binary",
                f"@{tmp_path / 'up'}", f"https://{HOST}/hello.txt", *auth)
    assert p.stdout.decode() == "200"
    assert (tmp_path / "echo").read_bytes() == body
    # an echoed key is starred
    p = gw.curl(agent, f"https://{HOST}/leak.txt", *auth)
    assert p.stdout == ("the key is " + gwlib.stars(S["bearer"]) + "\n").encode()
    recs = gw.wait_audit(n0 + 4)[n0:]
    assert [(r["path"], r["decision"], r["status"]) for r in recs] == [
        ("/hello.txt", "allow", 200), ("/big.bin", "allow", 200), ("/hello.txt", "allow", 200),
        ("/leak.txt", "allow", 200)], recs


def test_h2_only_upstream_refusals_and_missing_files(h2gw, nghttpd):
    gw = h2gw
    tok = gw.mint(hosts=HOST, methods="GET")
    n0 = len(gw.audit())
    p = gw.curl("--http1.1", "-o", "/dev/null", "-w", "%{http_code}",
                f"https://{HOST}/nope", "-H", f"Authorization: Bearer {tok}")
    assert p.stdout.decode() == "404"
    p = gw.curl("--http1.1", "-w", "\n%{http_code}", "-X", "POST", "--data", "x",
                f"https://{HOST}/hello.txt", "-H", f"Authorization: Bearer {tok}")
    assert p.stdout.decode().endswith("\n403")
    assert b"token_forbidden" in p.stdout
    recs = gw.wait_audit(n0 + 2)[n0:]
    assert [(r["path"], r["status"]) for r in recs] == [("/nope", 404), ("/hello.txt", 403)]


@pytest.mark.skipif(not shutil.which("nghttp"), reason="nghttp missing: run scripts/setup-e2e")
def test_nghttp_concurrent_streams_multiplexed_upstream(h2gw, nghttpd):
    """20 concurrent streams from nghttp: each one exchange, on upstream HTTP/2 streams."""
    from test_gateway_h2 import ConnectForwarder
    gw = h2gw
    tok = gw.mint(hosts=HOST, methods="GET")
    # The gateway learns that this upstream speaks HTTP/2 (its first burst cannot know).
    gw.curl("-o", "/dev/null", f"https://{HOST}/hello.txt", "-H", f"Authorization: Bearer {tok}")
    fwd = ConnectForwarder(gw, f"{HOST}:443")
    n0 = len(gw.audit())
    lines0 = len(nghttpd.lines)
    try:
        p = subprocess.run(
            ["nghttp", "-n", "-s", "-m", "20", "-H", f":authority: {HOST}",
             "-H", f"authorization: Bearer {tok}", f"https://127.0.0.1:{fwd.port}/big.bin"],
            capture_output=True, timeout=60)
    finally:
        fwd.close()
    gw.record("nghttp", p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr.decode()
    recs = gw.wait_audit(n0 + 20)[n0:]
    assert len(recs) == 20 and all(r["status"] == 200 for r in recs), \
        [(r["status"], r["reason"]) for r in recs if r["status"] != 200]
    assert all(r["bytes_out"] == len(nghttpd.big) for r in recs), recs
    # nghttpd takes 4 streams per connection: the gateway opened more connections rather than
    # exceed that (20 streams at once), and reused them (not one per stream). Every request's
    # headers are in nghttpd's log before its answer; the log reaches us a little later.
    lines = nghttpd.wait_lines(
        lambda lines: sum(":path: /big.bin" in line for line in lines) >= 20, since=lines0)
    assert sum(":path: /big.bin" in line for line in lines) == 20, "".join(lines)[-3000:]
    sessions = {m for line in lines for m in re.findall(r"\[id=(\d+)\]", line)}
    assert 2 <= len(sessions) < 20, sessions


def test_h2_agent_to_http11_only_upstream(gw):
    """nginx in this suite speaks HTTP/1.1 only: the gateway translates each stream."""
    tok = gw.mint(hosts="api.example.com")
    p = gw.curl("--http2", "-w", "\n%{http_version} %{http_code}",
                "https://api.example.com/v1/ping", "-H", f"Authorization: Bearer {tok}")
    assert p.stdout.decode().endswith("\n2 200"), p.stdout[-100:]


def test_h2_request_trailers_reach_an_http11_upstream(gw, pyup):
    """An HTTP/2 request without content-length goes upstream chunked; its trailers (a HEADERS
    block after the body) go in the last chunk. A credential field among them is left out (only
    the head is authorized and injected)."""
    import json

    tok = gw.mint(hosts="stream.example.com")
    with h2lib.Client(gw, "stream.example.com") as c:
        sid = c.request("POST", "/upload", [("authorization", f"Bearer {tok}")], body=b"x" * 5000,
                        end=False)
        c.conn.send_headers(sid, [("x-checksum", "abc123"), ("authorization", "Bearer x")],
                            end_stream=True)
        c.flush()
        r = c.wait([sid])[sid]
    assert r.status == 200, (r.reset, r.body)
    got = json.loads(r.body)
    assert got["bytes"] == 5000 and got["framing"] == "chunked", got
    assert got["trailers"] == [["x-checksum", "abc123"]], got


def test_h2_upstream_response_trailers_reach_an_http11_agent_redacted(h2gw):
    """nghttpd adds trailers to its responses, one echoing the key. An HTTP/1.1 agent that sent
    `TE: trailers` gets the response chunked with them in the last chunk, the key starred; one
    that did not keeps the upstream's Content-Length (and cannot get trailers)."""
    gw = h2gw
    tok = gw.mint(hosts=HOST)
    auth = ["-H", f"Authorization: Bearer {tok}"]
    p = gw.curl("--http1.1", "--raw", "-i", "--suppress-connect-headers", "-H", "TE: trailers",
                f"https://{HOST}/hello.txt", *auth)
    out = p.stdout.decode("latin-1")
    assert S["bearer"] not in out
    head, _, body = out.partition("\r\n\r\n")
    assert "transfer-encoding: chunked" in head.lower() and "content-length" not in head.lower()
    assert body == ("13\r\nhello from nghttpd\n\r\n0\r\nx-upstream-trailer: ok\r\n"
                    "x-leak: " + gwlib.stars(S["bearer"]) + "\r\n\r\n"), body
    p = gw.curl("--http1.1", "--raw", "-i", "--suppress-connect-headers",
                f"https://{HOST}/hello.txt", *auth)
    head, _, body = p.stdout.decode("latin-1").partition("\r\n\r\n")
    assert "content-length: 19" in head.lower(), head
    assert body == "hello from nghttpd\n"


def test_h2_upstream_response_trailers_reach_an_h2_agent_redacted(h2gw):
    gw = h2gw
    tok = gw.mint(hosts=HOST)
    r = h2lib.get(gw, HOST, "/hello.txt", headers=[("authorization", f"Bearer {tok}")])
    assert r.status == 200 and r.body == b"hello from nghttpd\n", r
    assert dict(r.trailers) == {"x-upstream-trailer": "ok", "x-leak": gwlib.stars(S["bearer"])}


def test_a_dead_upstream_connection_is_dropped_from_the_pool(make_gateway, pki, tmp_path):
    """The upstream restarts between two requests: the pooled HTTP/2 connection died with it, and
    the next request gets a new one instead of an error."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    server = Nghttpd(pki, tmp_path / "a")
    try:
        gw = make_gateway(extra=service(pki, server.port))
        tok = gw.mint(hosts=HOST)
        auth = ["-H", f"Authorization: Bearer {tok}"]
        for _ in range(2):
            p = gw.curl("--http1.1", "-w", "%{http_code}", "-o", "/dev/null",
                        f"https://{HOST}/hello.txt", *auth)
            assert p.stdout.decode() == "200"
        port = server.port
        server.stop()
        server = Nghttpd(pki, tmp_path / "b", port=port)
        for _ in range(2):
            p = gw.curl("--http1.1", "-w", "%{http_code}", "-o", "/dev/null",
                        f"https://{HOST}/hello.txt", *auth)
            assert p.stdout.decode() == "200"
    finally:
        server.stop()


def test_reverse_base_url_to_an_h2_only_upstream(make_gateway, pki, nghttpd):
    """The reverse listener (plain HTTP/1.1 from the agent) reaches an h2-only upstream too."""
    import requests
    gw = make_gateway(extra=service(pki, nghttpd.port), reverse_listen="127.0.0.1:0")
    assert gw.wait_stderr(r"reverse base URL", timeout=5), gw.stderr_text()
    assert gw.reverse_port, gw.stderr_text()
    tok = gw.mint(hosts=HOST)
    base = f"http://127.0.0.1:{gw.reverse_port}/h2only"
    r = requests.get(base + "/hello.txt", headers={"Authorization": f"Bearer {tok}"}, timeout=20)
    assert r.status_code == 200 and r.content == b"hello from nghttpd\n", (r.status_code, r.text)
    r = requests.post(base + "/hello.txt", data=b"z" * 100_000,
                      headers={"Authorization": f"Bearer {tok}"}, timeout=20)
    assert r.status_code == 200 and r.content == b"z" * 100_000
    r = requests.get(base + "/leak.txt", headers={"Authorization": f"Bearer {tok}"}, timeout=20)
    gw.record("reverse h2", r.text)
    assert r.text == "the key is " + gwlib.stars(S["bearer"]) + "\n"


class GzipEchoH2(h2lib.H2TlsServer):
    """An HTTP/2-only TLS upstream (python3-h2) that echoes the Authorization it received in a
    gzip body, whatever the request's Accept-Encoding says."""

    def serve(self, tls, index):
        h2c = self.h2_connection()
        tls.sendall(h2c.data_to_send())
        while True:
            data = tls.recv(65535)
            if not data:
                return
            for event in h2c.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    auth = dict(event.headers).get("authorization", "")
                    body = gzip.compress(("echo " + auth + "\n").encode())
                    h2c.send_headers(event.stream_id, [
                        (":status", "200"), ("content-type", "text/plain"),
                        ("content-encoding", "gzip"), ("content-length", str(len(body)))])
                    h2c.send_data(event.stream_id, body, end_stream=True)
            tls.sendall(h2c.data_to_send())


@pytest.mark.parametrize("agent", ["--http1.1", "--http2"])
def test_a_compressed_body_from_an_h2_upstream_is_decoded_and_redacted(make_gateway, pki, agent):
    """The HTTP/2 upstream relays go through the same decode-then-redact filter as every other
    path: a key echoed inside gzip reaches neither kind of agent (docs/redaction.md)."""
    server = GzipEchoH2(pki)
    try:
        gw = make_gateway(extra=service(pki, server.port))
        tok = gw.mint(hosts=HOST)
        p = gw.curl(agent, "-i", "--suppress-connect-headers", f"https://{HOST}/echo",
                    "-H", f"Authorization: Bearer {tok}")
        head, _, body = p.stdout.decode("latin-1").partition("\r\n\r\n")
        assert "content-encoding" not in head.lower(), head
        assert body.strip() == "echo " + "Bearer " + gwlib.stars(S["bearer"]) or \
            gwlib.is_redacted_bearer(body.strip()[len("echo "):]), body
        assert S["bearer"].encode() not in p.stdout
        gw.record("gzip via h2 upstream", p.stdout.decode("latin-1"))
    finally:
        server.stop()
