"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through the forward proxy, with real peers:
python3-h2 as the agent's HTTP/2 client, websockets' own client framing on its stream, and a
python3-websockets server upstream (reached over HTTP/1.1 with `Upgrade: websocket`). A stream's
WebSocket is one exchange like any request: authority, path, rules, token, injection, one audit
record per stream; its frames go through the same redaction as an HTTP/1.1 upgrade's; a refused
stream leaves its siblings alone; flow control holds a slow agent's upstream back."""
import json
import time

import h2.settings
import pytest

import gwlib
import h2lib
from wslib import SECRET, Closed, H2WebSocket, WsUpstream


@pytest.fixture(scope="module")
def ws_upstream(pki):
    return WsUpstream(pki).start()


@pytest.fixture
def wsgw(make_gateway, ws_upstream):
    return make_gateway(extra=f"""
[[service]]
name = "ws"
hosts = ["ws.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {gwlib.toml_str(f"127.0.0.1:{ws_upstream.port}")}
upstream_ca = {gwlib.toml_str(make_gateway.pki.ca)}
allow_private = true
""")


def client(gw):
    c = h2lib.Client(gw, "ws.example.com")
    # The gateway's SETTINGS arrive with its first bytes.
    deadline = time.monotonic() + 10
    while c.conn.remote_settings.enable_connect_protocol != 1 and time.monotonic() < deadline:
        c.pump(0.2)
    return c


def bearer(tok):
    return [("authorization", f"Bearer {tok}")]


def ws_records(gw, at_least=1):
    """The audit records of ws.example.com (a relay's record is written when it ends)."""
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in gw.audit() if r.get("host") == "ws.example.com"]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_gateway_advertises_extended_connect(wsgw):
    with client(wsgw) as c:
        assert c.conn.remote_settings.enable_connect_protocol == 1
        assert c.conn.remote_settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1


def test_echo_both_ways_injected_secret_starred_and_one_record_per_stream(wsgw, ws_upstream):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/echo-headers", bearer(tok) + [("sec-websocket-extensions",
                                                             "permessage-deflate")])
        r = ws.response()
        assert r.status == 200, (r.status, r.body)
        names = {k for k, _ in r.headers}
        # Nothing of the HTTP/1.1 handshake reaches the HTTP/2 agent, and no extension was agreed.
        assert not names & {"sec-websocket-accept", "upgrade", "connection",
                            "sec-websocket-extensions"}, r.headers
        first = json.loads(ws.recv())
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv() == b"\x00\x01binary"
        # A second WebSocket on the same connection, at the same time.
        other = H2WebSocket(c, "/echo", bearer(tok))
        assert other.response().status == 200
        other.send("second stream")
        ws.send("first stream")
        assert other.recv() == "second stream" and ws.recv() == "first stream"
        ws.close(1000, "done")
        with pytest.raises(Closed) as closed:
            ws.recv()
        assert closed.value.code == 1000
        other.close(1000)
        with pytest.raises(Closed):
            other.recv()
        c.wait([ws.sid, other.sid])
    seen = {k.lower(): v for k, v in ws_upstream.seen_headers[-2].items()}
    # The server saw the real credential as an HTTP/1.1 upgrade (the gateway's own key), no
    # extension offered, no token.
    assert seen["authorization"] == f"Bearer {SECRET}", seen
    assert seen["upgrade"] == "websocket" and seen["sec-websocket-version"] == "13", seen
    assert "sec-websocket-key" in seen and "sec-websocket-extensions" not in seen, seen
    assert tok not in json.dumps(seen)
    assert SECRET not in json.dumps(first)
    assert gwlib.is_redacted_bearer(first["Authorization"]), first
    records = ws_records(wsgw, 2)
    assert len(records) == 2, records
    for rec in records:
        assert (rec["status"], rec["decision"], rec["kind"], rec["method"]) == \
            (200, "allow", "http", "GET"), rec
        assert "websocket ended by" in rec["reason"], rec
        assert rec["bytes_in"] > 0 and rec["bytes_out"] > 0, rec
    assert sorted(rec["path"] for rec in records) == ["/echo", "/echo-headers"]


def test_secret_split_across_fragments_binary_and_a_big_message_is_starred(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/fragments", bearer(tok))
        assert ws.response().status == 200
        text, binary = ws.recv(), ws.recv()
        assert text == f"before {'*' * len(SECRET)} after", text
        assert binary == b"bin:" + b"*" * len(SECRET), binary
        # The fragments kept their boundaries (websockets ends with an empty continuation).
        assert [f[2] for f in ws.frames[:4]] == [12, 12, len(text) - 24, 0], ws.frames
        big = H2WebSocket(c, "/big", bearer(tok))
        assert big.response().status == 200
        message = big.recv(timeout=60)
        size_ok, leaked = len(message) == (40000 + len(SECRET)) * 30, SECRET in message
        starred = message.count("*" * len(SECRET))
        assert size_ok and not leaked and starred == 30, (len(message), leaked, starred)


def test_a_large_fragmented_message_from_the_agent_is_echoed_whole(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    payload = bytes(range(256)) * 8192  # 2 MiB, beyond every window on the way
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/echo", bearer(tok))
        assert ws.response().status == 200
        ws.send(payload, fragments=7)
        echoed = ws.recv(timeout=120)
        assert echoed == payload, len(echoed)


def test_close_code_and_reason_echoing_the_secret_pass_starred_and_the_stream_ends(wsgw,
                                                                                   ws_upstream):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/close", bearer(tok))
        assert ws.response().status == 200
        with pytest.raises(Closed) as closed:
            ws.recv()
        assert (closed.value.code, closed.value.reason) == (4001, "bye " + "*" * len(SECRET))
        # The upstream closed its connection: the stream ends (END_STREAM, not a reset).
        done = c.wait([ws.sid])[ws.sid]
        assert done.reset is None, done.reset
    rec = ws_records(wsgw)[-1]
    assert rec["status"] == 200 and "websocket ended by upstream" in rec["reason"], rec


def test_refused_token_and_path_answer_their_stream_while_a_sibling_keeps_working(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET", paths="/echo")
    with client(wsgw) as c:
        good = H2WebSocket(c, "/echo", bearer(tok))
        assert good.response().status == 200
        good.send("before")
        assert good.recv() == "before"
        cases = [("/echo", bearer("acm_not_a_token"), 401, "token_invalid"),
                 ("/echo-headers", bearer(tok), 403, "token_forbidden"),
                 ("/a/../echo-headers", bearer(tok), 403, "token_forbidden")]
        for path, headers, status, error in cases:
            bad = H2WebSocket(c, path, headers)
            r = c.wait([bad.sid])[bad.sid]
            assert r.status == status, (path, r.status, r.body)
            assert json.loads(r.body)["error"] == error, r.body
            assert dict(r.headers)["x-cloakroom-error"] == error
            good.send(f"after {path}")
            assert good.recv() == f"after {path}"
        # A stream whose :authority names another host than the connection's target: 421.
        other = H2WebSocket(c, "/echo", bearer(tok), authority="evil.example.com")
        assert c.wait([other.sid])[other.sid].status == 421
        good.send("still here")
        assert good.recv() == "still here"
    denied = [r for r in ws_records(wsgw, 5) if r["decision"] == "deny"]
    assert [r["status"] for r in denied] == [401, 403, 403, 421], denied
    assert denied[2]["path"] == "/echo-headers", denied[2]  # the normalized path was checked


def test_plain_connect_and_other_protocols_are_refused_on_their_stream(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        other = H2WebSocket(c, "/echo", bearer(tok), protocol="connect-udp")
        r = c.wait([other.sid])[other.sid]
        assert r.status == 501 and b"websocket protocol only" in r.body, (r.status, r.body)
        # Without sec-websocket-version: 13 there is no handshake to stand for.
        sid = c.request("CONNECT", "/echo", [(":protocol", "websocket")] + bearer(tok), end=False)
        r = c.wait([sid])[sid]
        assert r.status == 400 and b"sec-websocket-version" in r.body, (r.status, r.body)
        # A plain CONNECT (a tunnel: only :method and :authority, which python3-h2 would not
        # send on its own).
        c.conn.config.validate_outbound_headers = False
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "ws.example.com:443")])
        c.results[sid] = h2lib.Result()
        c.flush()
        r = c.wait([sid])[sid]
        assert r.status == 501 and b"extended CONNECT" in r.body, (r.status, r.body)
        c.conn.config.validate_outbound_headers = True
        # The connection still serves WebSockets.
        ws = H2WebSocket(c, "/echo", bearer(tok))
        assert ws.response().status == 200
        ws.send("fine")
        assert ws.recv() == "fine"


def test_a_slow_agent_holds_its_upstream_back_and_a_reset_ends_the_upstream(wsgw, ws_upstream):
    """The agent stops reading one WebSocket stream (its window stays shut): the server's sends
    stop within what the sockets hold, not what it would send, while a sibling stream keeps
    working; resetting the stream ends the upstream's connection."""
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        flood = H2WebSocket(c, "/flood", bearer(tok))
        c.stalled.add(flood.sid)
        assert flood.response().status == 200
        sibling = H2WebSocket(c, "/echo", bearer(tok))
        assert sibling.response().status == 200
        wait_for(lambda: ws_upstream.flood_sent > 0, what="the flood to start")
        previous = -1
        # Until the server is held back (or clearly is not).
        while previous != ws_upstream.flood_sent and ws_upstream.flood_sent < 400:
            previous = ws_upstream.flood_sent
            sibling.send("ping")
            assert sibling.recv() == "ping"
            time.sleep(0.5)
        # 64 KiB messages: the sockets on the way hold a few MiB, the gateway 64 KiB a stream.
        held = ws_upstream.flood_sent
        assert held < 400, f"{held} x 64 KiB went out to an agent that reads nothing"
        c.conn.reset_stream(flood.sid)
        c.flush()
        wait_for(lambda: "/flood" in ws_upstream.ended, what="the upstream connection to end")
        sibling.send("after the reset")
        assert sibling.recv() == "after the reset"
    flood_rec = [r for r in ws_records(wsgw, 2) if r["path"] == "/flood"]
    assert len(flood_rec) == 1 and "websocket ended by agent" in flood_rec[0]["reason"], flood_rec


def test_an_upstream_that_reads_nothing_shuts_the_agents_window(wsgw):
    """The other direction: the server stops reading; the agent's stream window stays shut once
    the sockets on the way are full (the gateway acknowledges the stream's DATA only as the relay
    takes it), instead of the gateway buffering what the agent sends."""
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    block = b"u" * 65536
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/deaf", bearer(tok))
        assert ws.response().status == 200
        sent, pending, stalled_since = 0, b"", None
        while sent < 48 * 2**20:
            if not pending:
                ws.ws.send_binary(block)
                pending = b"".join(ws.ws.data_to_send())
            window = min(c.conn.local_flow_control_window(ws.sid), c.conn.max_outbound_frame_size)
            if window <= 0:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 2:
                    break
                c.pump(0.2)
                continue
            stalled_since = None
            c.conn.send_data(ws.sid, pending[:window])
            c.flush()
            sent += min(window, len(pending))
            pending = pending[window:]
        assert not c.results[ws.sid].done, "the relay ended: the test proves nothing"
        assert sent < 24 * 2**20, f"{sent >> 20} MiB taken from an agent whose upstream reads nothing"
        c.conn.reset_stream(ws.sid)
        c.flush()


def test_an_upstream_refusing_the_handshake_answers_the_stream_redacted(wsgw):
    """The upstream answers the handshake 403 with the credential echoed in a header and the
    body: that answer is the stream's response, redacted like any."""
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/reject", bearer(tok))
        r = c.wait([ws.sid])[ws.sid]
        assert r.status == 403, (r.status, r.body)
        assert gwlib.is_redacted_bearer(dict(r.headers)["x-echo-authorization"]), r.headers
        assert SECRET.encode() not in r.body and r.body.startswith(b"refused: "), r.body
        assert gwlib.is_redacted_bearer(r.body[len(b"refused: "):].decode().strip()), r.body
        # The stream is over for the agent too; the connection serves the next WebSocket.
        ok = H2WebSocket(c, "/echo", bearer(tok))
        assert ok.response().status == 200
        ok.send("next")
        assert ok.recv() == "next"
    rec = [x for x in ws_records(wsgw, 1) if x["path"] == "/reject"][-1]
    assert (rec["status"], rec["decision"]) == (403, "allow"), rec


def test_an_upstream_answering_2xx_without_switching_is_refused(make_gateway):
    """An HTTP server that ignores the upgrade and answers 200 (nginx, the suite's HTTP upstream):
    passed on as `:status 200`, it would tell the agent the WebSocket is open and its body would
    be read as frames; the agent gets 502 instead."""
    gw = make_gateway()
    tok = gw.mint(methods="GET")
    with h2lib.Client(gw, "api.example.com") as c:
        deadline = time.monotonic() + 10
        while c.conn.remote_settings.enable_connect_protocol != 1:
            assert time.monotonic() < deadline
            c.pump(0.2)
        ws = H2WebSocket(c, "/v1/echo-headers", bearer(tok))
        r = c.wait([ws.sid])[ws.sid]
        assert r.status == 502, (r.status, r.body)
        assert json.loads(r.body)["error"] == "upstream_bad_response", r.body
        assert SECRET.encode() not in r.body
    rec = [x for x in gw.audit() if x.get("host") == "api.example.com"][-1]
    assert (rec["status"], rec["decision"]) == (502, "error"), rec


def test_a_ping_echoing_the_secret_is_starred_and_answered(wsgw):
    tok = wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c:
        ws = H2WebSocket(c, "/ping", bearer(tok))
        assert ws.response().status == 200
        ws.send("after the ping")  # the server echoes once its ping is answered
        assert ws.recv() == "after the ping"
        assert ws.pings == [b"ping " + b"*" * len(SECRET)], ws.pings


def test_revoking_the_token_ends_its_websocket_and_the_upstream_connection(wsgw, ws_upstream):
    """A revocation ends what the token already opened (docs/architecture.md, "Sessions"): the
    agent's HTTP/2 connection that carried it, with its WebSocket streams and their upstream
    connections, within the gateway's revocation check (every 200 ms)."""
    tok, other = wsgw.mint(hosts="ws.example.com", methods="GET"), \
        wsgw.mint(hosts="ws.example.com", methods="GET")
    with client(wsgw) as c, client(wsgw) as bystander_c:
        ws = H2WebSocket(c, "/echo", bearer(tok))
        assert ws.response().status == 200
        ws.send("before")
        assert ws.recv() == "before"
        bystander = H2WebSocket(bystander_c, "/echo", bearer(other))
        assert bystander.response().status == 200
        ended_before = len(ws_upstream.ended)
        p = wsgw.cli("revoke", wsgw.token_id(tok), check=False)
        assert p.returncode == 0, p.stderr
        since = time.monotonic()
        with pytest.raises((Closed, ConnectionError)):
            ws.recv(timeout=5)
        assert time.monotonic() - since < 3, "the revoked token's WebSocket stayed open"
        wait_for(lambda: len(ws_upstream.ended) > ended_before, what="the upstream to end")
        bystander.send("still open")
        assert bystander.recv() == "still open", "another token's WebSocket was ended"
    rec = [r for r in ws_records(wsgw, 2) if r.get("token_id") == wsgw.token_id(tok)]
    assert len(rec) == 1 and rec[0]["status"] == 200 and "websocket ended by" in rec[0]["reason"], rec
