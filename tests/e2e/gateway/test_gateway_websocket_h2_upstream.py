"""A WebSocket towards an HTTP/2-only upstream (RFC 8441 extended CONNECT on the upstream side),
whatever the agent speaks: python3-websockets over HTTP/1.1 (Upgrade) and the python3-h2 agent of
test_gateway_websocket_h2.py (extended CONNECT). The upstream (h2wsserver.py: python3-h2 with
ALPN h2 only, python3-wsproto frames) enables SETTINGS_ENABLE_CONNECT_PROTOCOL; one that does not
gets the agent a clear 502. The frames pass the same relay and redaction as over HTTP/1.1: the
credential the upstream received, echoed in frames and close reasons, reaches no agent."""
import asyncio
import json
import time

import pytest
import websockets

import gwlib
import h2lib
from h2wsserver import H2WebSocketServer
from test_gateway_websocket import connect_through, run
from test_gateway_websocket_h2 import client as h2_client
from wslib import SECRET, Closed, H2WebSocket

HOST = "ws.example.com"
STARS = "*" * len(SECRET)


def redacted_between(text, before, after):
    """`text` is `before`, the echoed `Bearer <secret>` starred, `after`."""
    return text.startswith(before) and text.endswith(after) and \
        gwlib.is_redacted_bearer(text[len(before):len(text) - len(after)])


def service(pki, port):
    return f"""
[[service]]
name = "ws"
hosts = ["{HOST}"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {gwlib.toml_str(f"127.0.0.1:{port}")}
upstream_ca = {gwlib.toml_str(pki.ca)}
allow_private = true
"""


@pytest.fixture(scope="module")
def h2ws(pki):
    server = H2WebSocketServer(pki)
    yield server
    server.stop()


@pytest.fixture
def gw(make_gateway, pki, h2ws):
    return make_gateway(extra=service(pki, h2ws.port))


def records(gw, at_least=0, timeout=10):
    """The audit records for HOST, once there are `at_least` of them: a WebSocket's record is
    written when its relay ends, which may be a moment after the client saw the close."""
    deadline = time.monotonic() + timeout
    while True:
        recs = [r for r in gw.audit() if r.get("host") == HOST]
        if len(recs) >= at_least or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


def check_upstream_request(server, tok, path):
    seen = [r for r in server.requests if r.get(":path") == path][-1]
    # Extended CONNECT with the real credential; nothing of the HTTP/1.1 handshake, no token.
    assert (seen[":method"], seen[":protocol"], seen[":scheme"]) == ("CONNECT", "websocket",
                                                                      "https"), seen
    assert seen["authorization"] == f"Bearer {SECRET}", seen.keys()
    assert not {"sec-websocket-key", "upgrade", "connection", "sec-websocket-extensions"} & \
        set(seen), seen.keys()
    assert tok not in json.dumps(seen)


def test_http11_agent_to_h2_upstream_echo_fragments_close_and_redaction(gw, h2ws):
    tok = gw.mint(hosts=HOST, methods="GET")
    payload = bytes(range(256)) * 8192  # 2 MiB, beyond every window on the way

    async def talk():
        async with connect_through(gw, "/echo-headers", tok) as ws:
            assert ws.response_headers.get("x-server") == "h2ws"
            first = json.loads(await ws.recv())
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01binary")
            assert await ws.recv() == b"\x00\x01binary"
            # A large message in 8 fragments, echoed whole.
            await ws.send([payload[i:i + len(payload) // 8]
                           for i in range(0, len(payload), len(payload) // 8)])
            echoed = await asyncio.wait_for(ws.recv(), 60)
            assert echoed == payload, len(echoed)
            await ws.close(1000, "done")
            assert ws.close_code == 1000
        async with connect_through(gw, "/fragments", tok) as ws:
            fragments = await ws.recv()
        async with connect_through(gw, "/big", tok) as ws:
            big = await asyncio.wait_for(ws.recv(), 60)
        async with connect_through(gw, "/close", tok) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        return first, fragments, big, closed.value

    first, fragments, big, closed = run(talk())
    gw.record("h2 upstream ws", json.dumps(first) + fragments + big + str(closed.reason))
    assert gwlib.is_redacted_bearer(first["authorization"]), first["authorization"][:12]
    assert first[":protocol"] == "websocket"
    assert redacted_between(fragments, "before ", " after"), fragments
    assert SECRET not in big and big.count(STARS) == 20, len(big)
    assert len(big) == 20 * (50000 + len(f"Bearer {SECRET}")), len(big)
    assert closed.code == 4001 and redacted_between(closed.reason, "bye ", ""), closed.reason
    check_upstream_request(h2ws, tok, "/echo-headers")
    assert ("/echo-headers", payload) in h2ws.received
    recs = records(gw, at_least=4)
    assert len(recs) >= 4, recs
    for rec in recs:
        assert (rec["status"], rec["decision"], rec["method"]) == (101, "allow", "GET"), rec
        assert "websocket ended by" in rec["reason"], rec


def test_h2_agent_to_h2_upstream_echo_fragments_close_and_redaction(gw, h2ws):
    tok = gw.mint(hosts=HOST, methods="GET")
    auth = [("authorization", f"Bearer {tok}")]
    payload = bytes(range(256)) * 8192
    with h2_client(gw) as c:
        ws = H2WebSocket(c, "/echo-headers", auth)
        r = ws.response()
        assert r.status == 200, (r.status, r.body)
        assert dict(r.headers).get("x-server") == "h2ws", r.headers
        first = json.loads(ws.recv())
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(payload, fragments=7)
        assert ws.recv(timeout=120) == payload
        # A second WebSocket on the same agent connection, at the same time.
        other = H2WebSocket(c, "/fragments", auth)
        assert other.response().status == 200
        assert redacted_between(other.recv(), "before ", " after")
        ws.close(1000, "done")
        with pytest.raises(Closed) as closed:
            ws.recv()
        assert closed.value.code == 1000
        bye = H2WebSocket(c, "/close", auth)
        assert bye.response().status == 200
        with pytest.raises(Closed) as closed:
            bye.recv()
        assert closed.value.code == 4001, closed.value.code
        assert redacted_between(closed.value.reason, "bye ", ""), closed.value.reason
    assert gwlib.is_redacted_bearer(first["authorization"]), first["authorization"][:12]
    check_upstream_request(h2ws, tok, "/echo-headers")
    assert ("/echo-headers", payload) in h2ws.received
    recs = records(gw, at_least=3)  # the three WebSockets
    assert recs and all(r["status"] == 200 and r["decision"] == "allow" for r in recs), recs


def test_an_h2_only_upstream_without_extended_connect_is_a_clear_502(make_gateway, pki):
    server = H2WebSocketServer(pki, connect_protocol=False)
    try:
        gw = make_gateway(extra=service(pki, server.port))
        tok = gw.mint(hosts=HOST, methods="GET")

        async def h1():
            with pytest.raises(websockets.InvalidStatusCode) as refused:
                async with connect_through(gw, "/echo", tok):
                    pass
            return refused.value.status_code

        assert run(h1()) == 502
        with h2_client(gw) as c:
            ws = H2WebSocket(c, "/echo", [("authorization", f"Bearer {tok}")])
            r = c.wait([ws.sid])[ws.sid]
        assert r.status == 502, (r.status, r.body)
        err = json.loads(r.body)
        assert err["error"] == "upstream_websocket_unsupported", err
        assert "RFC 8441" in err["reason"] and "only HTTP/2" in err["reason"], err
        recs = records(gw, at_least=2)
        assert [r["status"] for r in recs] == [502, 502], recs
        assert all("RFC 8441" in r["reason"] for r in recs), recs
        # It was asked over h2 first, then again offering HTTP/1.1 only (which it does not pick).
        assert "h2" in server.alpn and None in server.alpn, server.alpn
    finally:
        server.stop()


def test_plain_requests_still_reach_the_same_h2_upstream(gw, h2ws):
    """The WebSocket upstream leg is the ordinary HTTP/2 leg: a plain GET goes as a request."""
    tok = gw.mint(hosts=HOST, methods="GET")
    r = h2lib.get(gw, HOST, "/plain", headers=[("authorization", f"Bearer {tok}")])
    assert r.status == 404, (r.status, r.body)
