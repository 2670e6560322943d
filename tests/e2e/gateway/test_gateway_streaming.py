"""Bodies stream both ways: a 10 MiB download, a 20 MiB chunked upload, server-sent events event by event."""
import hashlib
import json
import os
import ssl
import time
import uuid

import pytest
import requests

from gwlib import http_request



def _session(gw):
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"https": gw.proxy_url}
    s.verify = str(gw.ca_path)
    return s


def test_download_10mib_curl(gw, nginx, tmp_path):
    tok = gw.mint(methods="GET", paths="/files/**")
    out = tmp_path / "10m.bin"
    gw.curl("-H", f"Authorization: Bearer {tok}", "-o", str(out), "https://api.example.com/files/10m.bin")
    size, digest = nginx.files["/files/10m.bin"]
    data = out.read_bytes()
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == digest


def test_download_requests_stream(gw, nginx):
    tok = gw.mint(methods="GET", paths="/files/**")
    h = hashlib.sha256()
    n = 0
    with _session(gw) as s, s.get("https://api.example.com/files/10m.bin", stream=True, timeout=60,
                                   headers={"Authorization": f"Bearer {tok}"}) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(65536):
            h.update(chunk)
            n += len(chunk)
    assert (n, h.hexdigest()) == nginx.files["/files/10m.bin"]
    r = None
    with _session(gw) as s:
        r = s.get("https://api.example.com/files/1k.bin", headers={"Authorization": f"Bearer {tok}"}, timeout=20)
    assert (len(r.content), hashlib.sha256(r.content).hexdigest()) == nginx.files["/files/1k.bin"]


def test_upload_20mib_chunked(gw, tmp_path):
    """curl with Transfer-Encoding: chunked (python-requests cannot send a chunked body through an HTTPS
    proxy: its chunked path skips the CONNECT tunnel)."""
    tok = gw.mint(hosts="stream.example.com", methods="POST")
    data = os.urandom(20 << 20)
    f = tmp_path / "up-chunked.bin"
    f.write_bytes(data)
    p = gw.curl("-H", f"Authorization: Bearer {tok}", "-H", "Transfer-Encoding: chunked",
                "-H", "Content-Type: application/octet-stream", "--data-binary", f"@{f}",
                "https://stream.example.com/upload")
    assert json.loads(p.stdout) == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                    "framing": "chunked"}


def test_upload_chunked_raw_odd_chunk_sizes(gw):
    """Chunks of 1 byte, 1 MiB + 1, with extensions and trailers, written with pauses: body intact."""
    tok = gw.mint(hosts="stream.example.com", methods="POST")
    parts = [b"a", os.urandom((1 << 20) + 1), b"", os.urandom(70001), b"z" * 3]
    parts = [p for p in parts if p]
    t = gw.tunnel("stream.example.com:443")
    try:
        t.start_tls("stream.example.com", gw.ca_path)
        t.send(("POST /upload HTTP/1.1\r\nHost: stream.example.com\r\n"
                f"Authorization: Bearer {tok}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode())
        for i, part in enumerate(parts):
            ext = b";ext=1" if i == 1 else b""
            t.send(b"%x%s\r\n" % (len(part), ext) + part + b"\r\n")
            time.sleep(0.05)
        t.send(b"0\r\nX-Trailer: t\r\n\r\n")
        r = t.response()
    finally:
        t.close()
    whole = b"".join(parts)
    assert r.status == 200, r
    assert r.json() == {"sha256": hashlib.sha256(whole).hexdigest(), "bytes": len(whole), "framing": "chunked"}


def test_chunked_response_intact(gw):
    """An upstream's chunked response reaches the client with the same bytes and one terminating chunk."""
    r = gw.get("stream.example.com", "/chunked?n=5")
    assert r.status == 200, r
    assert r.body == b"".join(f"part-{i}\n".encode() for i in range(5)), r.body


@pytest.mark.parametrize("n", [0, 700, 100_000])
def test_response_without_framing_ends_with_the_upstream_close(gw, n):
    """No Content-Length, not chunked: the body is everything until the upstream closes, and the
    client is told the connection closes after it."""
    r = gw.get("stream.example.com", f"/until-close?n={n}")
    assert r.status == 200, r
    assert r.body == bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    assert r.headers.get("connection", "").lower() == "close", r.headers
    time.sleep(0.2)
    done = [a for a in gw.audit() if a.get("path") == "/until-close"]
    assert done and not done[-1]["reason"].startswith("response relay failed"), done
    assert done[-1]["bytes_out"] == n, done[-1]


def test_upstream_closing_before_its_content_length_fails_the_relay(gw):
    """An upstream that closes 1000 bytes short of its Content-Length: the client never sees a
    complete response, and the audit record says the relay failed."""
    try:
        r = gw.get("stream.example.com", "/short?n=5000")
        got = len(r.body)
        assert int(r.headers["content-length"]) == 6000, r.headers
    except (ConnectionError, ssl.SSLError, OSError):
        got = None  # the connection was cut: also not a complete response
    assert got is None or got < 6000
    time.sleep(0.2)
    failed = [a for a in gw.audit() if a.get("path") == "/short"]
    assert failed and failed[-1]["reason"].startswith("response relay failed"), failed


def test_head_of_a_chunked_response_has_no_body(gw):
    """HEAD to a resource served chunked: the head says chunked, but no chunk follows (not even the
    last one), so the next response on the same connection is read from the right place."""
    tok = gw.mint(hosts="stream.example.com", methods="GET,HEAD")
    with gw.tunnel("stream.example.com:443") as t:
        assert t.ok
        t.start_tls("stream.example.com", gw.ca_path)
        auth = [("Authorization", f"Bearer {tok}")]
        head = t.request(http_request("HEAD", "/chunked?n=3", "stream.example.com", auth), "HEAD")
        assert head.status == 200, head
        assert head.headers.get("transfer-encoding", "").lower() == "chunked", head
        get = t.request(http_request("GET", "/chunked?n=2", "stream.example.com", auth))
        assert get.status == 200, get
        assert get.body == b"part-0\npart-1\n", get.body


def test_upload_20mib_content_length_curl(gw, tmp_path):
    tok = gw.mint(hosts="stream.example.com", methods="POST")
    data = os.urandom(20 << 20)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    p = gw.curl("-H", f"Authorization: Bearer {tok}", "-H", "Content-Type: application/octet-stream",
                "--data-binary", f"@{f}", "https://stream.example.com/upload")
    assert json.loads(p.stdout) == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                    "framing": "content-length"}


def test_server_sent_events_arrive_one_by_one(gw, pyup):
    """Event 2 is only sent after the client has received event 1: a buffering gateway deadlocks here."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    sid = uuid.uuid4().hex
    events = []
    with _session(gw) as s, s.get(f"https://stream.example.com/sse?id={sid}", stream=True, timeout=20,
                                   headers={"Authorization": f"Bearer {tok}", "Accept": "text/event-stream"}) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = r.iter_lines(chunk_size=1)
        t0 = time.monotonic()
        for line in lines:
            if line.startswith(b"data:"):
                events.append(line)
                break
        assert events == [b"data: event-one"]
        state = pyup.sse_state(sid)
        assert "sent1" in state and "sent2" not in state  # event 1 arrived before event 2 existed
        assert time.monotonic() - t0 < 10
        pyup.release(sid)
        for line in lines:
            if line.startswith(b"data:"):
                events.append(line)
    assert events == [b"data: event-one", b"data: event-two", b"data: event-three"]
    assert pyup.sse_state(sid)["released"] is True
