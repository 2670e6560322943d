"""WebSocket through the gateway (HTTP/1.1 upgrade), with a real client and server: Debian's
python3-websockets on both sides. The upgrade is authorized and injected like any request, then
frames flow both ways through the one two-way pump; a secret the server echoes in a frame is
starred, whole or split across fragments and reads; extensions are not offered (compressed frames
would hide a secret); one audit record for the whole relay."""
import asyncio
import json
import shutil
import socket
import subprocess
import ssl
import time

import pytest
import websockets

import gwlib
from wslib import WsUpstream

SECRET = gwlib.SECRETS["bearer"]


@pytest.fixture(scope="module")
def ws_upstream(pki):
    return WsUpstream(pki).start()


@pytest.fixture
def wsgw(make_gateway, ws_upstream):
    gw = make_gateway(reverse_listen="127.0.0.1:0", extra=f"""
[[service]]
name = "ws"
hosts = ["ws.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {gwlib.toml_str(f"127.0.0.1:{ws_upstream.port}")}
upstream_ca = {gwlib.toml_str(make_gateway.pki.ca)}
allow_private = true
""")
    assert gw.wait_stderr(r"reverse base URL", timeout=5), gw.stderr_text()
    return gw


def connect_through(gw, path, token, host="ws.example.com", **kw):
    """A websockets client over a CONNECT tunnel to the gateway (websockets has no proxy support
    of its own: it gets the tunnelled socket)."""
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    sock.setblocking(False)
    ctx = ssl.create_default_context(cafile=str(gw.ca_path))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return websockets.connect(f"wss://{host}{path}", sock=sock, ssl=ctx, server_hostname=host,
                              extra_headers=headers, max_size=None, **kw)


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def ws_records(gw, at_least=1):
    """The audit records of ws.example.com (a relay's record is written when it ends, which may
    be just after the client has seen the close)."""
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in gw.audit() if r.get("host") == "ws.example.com"]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def test_upgrade_is_injected_echoed_secret_starred_and_messages_flow_both_ways(wsgw, ws_upstream):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")

    async def talk():
        async with connect_through(wsgw, "/echo-headers", tok) as ws:
            first = json.loads(await ws.recv())
            await ws.send("hello")
            echoed = await ws.recv()
            await ws.send(b"\x00\x01binary")
            echoed_bin = await ws.recv()
            return first, echoed, echoed_bin, ws.response_headers

    first, echoed, echoed_bin, response_headers = run(talk())
    # The server saw the real credential (it echoes it; the agent sees it starred) and no offer of
    # an extension, although the client offered permessage-deflate.
    seen = ws_upstream.seen_headers[-1]
    assert seen["Authorization"] == f"Bearer {SECRET}"
    assert "Sec-WebSocket-Extensions" not in seen
    assert SECRET not in json.dumps(first)
    assert gwlib.is_redacted_bearer(first["Authorization"]), first
    assert tok not in json.dumps(seen), "the agent's token reached the server"
    assert echoed == "hello" and echoed_bin == b"\x00\x01binary"
    assert "Sec-WebSocket-Extensions" not in response_headers
    records = ws_records(wsgw)
    assert len(records) == 1, records
    r = records[0]
    assert (r["status"], r["decision"], r["kind"]) == (101, "allow", "http"), r
    assert "websocket ended by" in r["reason"], r
    assert r["bytes_out"] > 0 and r["bytes_in"] > 0, r


def test_secret_split_across_fragments_and_in_binary_and_control_frames_is_starred(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")

    async def talk(path, count):
        got = []
        async with connect_through(wsgw, path, tok) as ws:
            for _ in range(count):
                got.append(await ws.recv())
        return got

    text, binary = run(talk("/fragments", 2))
    assert SECRET not in text and text == f"before {'*' * len(SECRET)} after", text
    assert binary == b"bin:" + b"*" * len(SECRET), binary
    big = run(talk("/big", 1))[0]
    # (plain booleans: pytest's introspection of a 1.2 MB string would drown the message)
    size_ok, leaked = len(big) == (40000 + len(SECRET)) * 30, SECRET in big
    starred = big.count("*" * len(SECRET))
    assert size_ok and not leaked and starred == 30, (len(big), leaked, starred)


def raw_frames(gw, path, token, count):
    """Opens the WebSocket by hand over a verified TLS tunnel and returns the 101 head and the
    first `count` frames the agent receives, as (fin, opcode, payload) - so control frames that
    a client library would answer on its own are seen as they arrived."""
    t = gw.tunnel("ws.example.com:443")
    assert t.ok, t.connect
    t.start_tls("ws.example.com", gw.ca_path)
    t.tls.sendall((f"GET {path} HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                   f"Authorization: Bearer {token}\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = t.tls.recv(65536)
        assert chunk, data
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    frames = []
    while len(frames) < count:
        while True:
            if len(data) >= 2:
                length, offset = data[1] & 0x7F, 2
                if length == 126 and len(data) >= 4:
                    length, offset = int.from_bytes(data[2:4], "big"), 4
                elif length == 127 and len(data) >= 10:
                    length, offset = int.from_bytes(data[2:10], "big"), 10
                if length < 126 or offset > 2:
                    if len(data) >= offset + length:
                        break
            chunk = t.tls.recv(65536)
            assert chunk, frames
            data += chunk
        frames.append((bool(data[0] & 0x80), data[0] & 0x0F, data[offset:offset + length]))
        data = data[offset + length:]
    t.close()
    return head.decode(), frames


def test_a_ping_echoing_the_secret_is_starred_and_the_handshake_offers_no_extension(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    head, frames = raw_frames(wsgw, "/ping", tok, 1)
    assert head.startswith("HTTP/1.1 101"), head
    assert "sec-websocket-extensions" not in head.lower(), head
    assert "upgrade: websocket" in head.lower() and "connection: upgrade" in head.lower(), head
    assert frames == [(True, 0x9, b"ping " + b"*" * len(SECRET))], frames


def test_fragments_keep_their_boundaries_and_lengths(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    _, frames = raw_frames(wsgw, "/fragments", tok, 5)
    text = f"before {'*' * len(SECRET)} after".encode()
    cut1, cut2 = 7 + 5, 7 + 17
    # websockets ends a fragmented message with an empty final continuation frame.
    assert frames == [(False, 0x1, text[:cut1]), (False, 0x0, text[cut1:cut2]),
                      (False, 0x0, text[cut2:]), (True, 0x0, b""),
                      (True, 0x2, b"bin:" + b"*" * len(SECRET))], frames


def test_an_unauthorized_upgrade_is_refused_and_audited(wsgw):
    async def talk():
        async with connect_through(wsgw, "/echo-headers", "acm_not_a_token"):
            pass

    with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
        run(talk())
    assert refused.value.status_code in (401, 403)
    r = ws_records(wsgw)[-1]
    assert r["decision"] == "deny" and r["status"] == refused.value.status_code, r


def test_node_ws_client_through_the_proxy(wsgw, node_dir):
    """npm's `ws` with https-proxy-agent (what a Node agent would use): injected, echo starred,
    permessage-deflate offered by the client and not negotiated."""
    if not shutil.which("node") or not (node_dir / "node_modules" / "ws").exists():
        pytest.fail("node or tests/e2e/node/node_modules missing: run scripts/setup-e2e")
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    env = wsgw.client_env(NODE_EXTRA_CA_CERTS=str(wsgw.ca_path), NODE_NO_WARNINGS="1")
    p = subprocess.run(["node", str(node_dir / "ws_client.mjs"), "wss://ws.example.com/echo-headers",
                        json.dumps({"Authorization": f"Bearer {tok}"}), "3", "from node", "second"],
                       env=env, capture_output=True, text=True, timeout=60, cwd=node_dir)
    wsgw.record("node ws", p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    first, *echoes = out["received"]
    assert SECRET not in p.stdout
    assert gwlib.is_redacted_bearer(json.loads(first)["Authorization"]), first
    assert echoes == ["from node", "second"], out
    assert out["close"] == 1000 and out["extensions"] == "", out


def test_the_reverse_listener_opens_a_websocket_too(wsgw):
    """ws://127.0.0.1:<reverse>/ws/... (an SDK configured with a base URL): the same plan and
    relay as through CONNECT, the upstream reached over verified TLS."""
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")

    async def talk():
        async with websockets.connect(f"ws://127.0.0.1:{wsgw.reverse_port}/ws/echo-headers",
                                      extra_headers={"Authorization": f"Bearer {tok}"}) as ws:
            first = json.loads(await ws.recv())
            await ws.send("via the base URL")
            return first, await ws.recv()

    first, echoed = run(talk())
    assert gwlib.is_redacted_bearer(first["Authorization"]), first
    assert first["Host"] == "ws.example.com", first
    assert echoed == "via the base URL"
    r = ws_records(wsgw)[-1]
    assert (r["status"], r["decision"], r["path"]) == (101, "allow", "/echo-headers"), r


def test_a_close_code_passes_and_a_close_reason_echoing_the_secret_is_starred(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")

    async def talk():
        async with connect_through(wsgw, "/close", tok) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    code, reason = run(talk())
    assert (code, reason) == (4001, "bye " + "*" * len(SECRET))


@pytest.fixture(scope="module")
def node_ws_upstream(pki, node_dir):
    if not shutil.which("node") or not (node_dir / "node_modules" / "ws").exists():
        pytest.fail("node or tests/e2e/node/node_modules missing: run scripts/setup-e2e")
    proc = subprocess.Popen(["node", str(node_dir / "ws_server.mjs"), str(pki.cert), str(pki.key)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=node_dir)
    port = int(proc.stdout.readline())
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_python_client_to_a_node_ws_server(make_gateway, node_ws_upstream):
    """The other way round: a `ws` (npm) server upstream, python3-websockets as the agent. The
    server offers permessage-deflate, but is never asked for it; its echo of the credential,
    whole and split across two fragments, arrives starred."""
    gw = make_gateway(extra=f"""
[[service]]
name = "wsnode"
hosts = ["wsnode.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {gwlib.toml_str(f"127.0.0.1:{node_ws_upstream}")}
upstream_ca = {gwlib.toml_str(make_gateway.pki.ca)}
allow_private = true
""")
    tok = gw.mint(hosts="wsnode.example.com", methods="GET")

    async def talk():
        async with connect_through(gw, "/x", tok, host="wsnode.example.com") as ws:
            headers = json.loads(await ws.recv())
            split = await ws.recv()
            await ws.send("to node")
            return headers, split, await ws.recv()

    headers, split, echoed = run(talk())
    assert gwlib.is_redacted_bearer(headers["authorization"]), headers
    assert "sec-websocket-extensions" not in headers, headers
    assert split.startswith("split:") and gwlib.is_redacted_bearer(split[6:]), split
    assert echoed == "to node"


def test_an_ended_relay_never_writes_into_the_next_connection(wsgw):
    """A relay that ends must not close the agent's descriptor under its TLS stream: the stream's
    close_notify would then go out on the fd number the next accepted connection got (seen as a
    stray TLS record before another client's "200 Connection established")."""
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")

    async def one_round():
        async with connect_through(wsgw, "/close", tok) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
        # The next connections, opened while the ended relay's stream winds down.
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", wsgw.port), timeout=10)
            sock.sendall(b"CONNECT ws.example.com:443 HTTP/1.1\r\nHost: ws.example.com:443\r\n\r\n")
            first = sock.recv(12)
            sock.close()
            assert first == b"HTTP/1.1 200", first

    for _ in range(20):
        run(one_round())
