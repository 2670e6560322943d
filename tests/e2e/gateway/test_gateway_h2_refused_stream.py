"""A stream an HTTP/2 upstream refused unprocessed (RFC 9113 §8.7: RST_STREAM REFUSED_STREAM, or
above the last stream id of its GOAWAY) is sent once more on another upstream connection, a POST
with its body included, while no response byte reached the agent and the body sent so far is held
(64 KiB); otherwise the agent gets a 502 `upstream_refused_stream` with the reason. The upstream
(h2refuse.RefusingH2, python3-h2 over TLS with ALPN h2 only) records each request it processed:
each one exactly once. Agents: curl over HTTP/1.1 and python3-h2 over HTTP/2, through the forward
proxy (docs/architecture.md, "HTTP/2")."""
import hashlib
import json
import secrets
import time

import pytest

import gwlib
import h2lib
from h2refuse import RefusingH2
from test_gateway_h2_upstream import HOST, service

S = gwlib.SECRETS
AGENTS = ["h1", "h2"]


@pytest.fixture
def refusing(pki):
    servers = []

    def start(plan, **kwargs):
        server = RefusingH2(pki, plan, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def send(gw, agent, tok, rid, method="GET", body=b"", tmp_path=None):
    """One request with its x-request-id; (status, body bytes)."""
    headers = [("authorization", f"Bearer {tok}"), ("x-request-id", rid)]
    if agent == "h2":
        r = h2lib.get(gw, HOST, f"/{rid}", headers, method=method, body=body)
        return r.status, r.body
    args = ["--http1.1", "-w", "\n%{http_code}", "-X", method]
    for k, v in headers:
        args += ["-H", f"{k}: {v}"]
    if body:
        path = tmp_path / f"{rid}.body"
        path.write_bytes(body)
        args += ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{path}"]
    p = gw.curl(*args, f"https://{HOST}/{rid}", check=False)
    out, _, code = p.stdout.rpartition(b"\n")
    return int(code or 0), out


def rid():
    return "r" + secrets.token_hex(6)


def record_of(gw, request_id, n0):
    records = [r for r in gw.wait_audit(n0 + 1)[n0:] if r["path"] == f"/{request_id}"]
    assert len(records) == 1, records
    return records[0]


def check_processed_once(server, request_id, body=b"", method="GET"):
    done = [p for p in server.processed if p["id"] == request_id]
    assert len(done) == 1, server.processed
    assert done[0]["method"] == method
    assert done[0]["body_len"] == len(body)
    assert done[0]["body_sha"] == hashlib.sha256(body).hexdigest()
    # The upstream got the real credential, never the token.
    assert done[0]["auth"] == f"Bearer {S['bearer']}", done[0]["auth"][:12]


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_refused_stream_is_sent_again_on_another_connection(make_gateway, pki, refusing,
                                                              agent, method, tmp_path):
    """The first connection RST_STREAMs every stream with REFUSED_STREAM: the request goes once
    more on a new connection (the pool's only one is the refusing one) and is processed once."""
    server = refusing(lambda i: "refuse" if i == 0 else "normal")
    gw = make_gateway(extra=service(pki, server.port))
    tok = gw.mint(hosts=HOST)
    body = secrets.token_bytes(40_000) if method == "POST" else b""
    n0 = len(gw.audit())
    request_id = rid()
    status, out = send(gw, agent, tok, request_id, method, body, tmp_path)
    assert status == 200, out[:300]
    assert json.loads(out)["id"] == request_id and json.loads(out)["conn"] == 1, out
    check_processed_once(server, request_id, body, method)
    assert [r[2] for r in server.refused] == [request_id], server.refused
    rec = record_of(gw, request_id, n0)
    assert rec["status"] == 200 and rec["decision"] == "allow", rec
    assert "sent again on another upstream connection" in rec["reason"], rec


@pytest.mark.parametrize("agent", AGENTS)
def test_a_stream_above_the_goaway_last_stream_id_is_sent_again(make_gateway, pki, refusing,
                                                               agent, tmp_path):
    """GOAWAY(last_stream_id=0) as the first stream arrives: a POST with its body goes on a new
    connection; the upstream processes it once."""
    server = refusing(lambda i: "goaway:0" if i == 0 else "normal")
    gw = make_gateway(extra=service(pki, server.port))
    tok = gw.mint(hosts=HOST)
    body = b"payload " * 3000
    request_id = rid()
    status, out = send(gw, agent, tok, request_id, "POST", body, tmp_path)
    assert status == 200, (out[:300], server.seen, server.connections, gw.audit()[-1:])
    assert json.loads(out)["conn"] == 1
    check_processed_once(server, request_id, body, "POST")
    assert server.seen.count(request_id) == 2, server.seen  # sent twice, processed once


def test_goaway_below_an_in_flight_stream_on_a_kept_connection(make_gateway, pki, refusing):
    """An HTTP/2 agent's second request rides the upstream connection kept from its first; the
    upstream answers the first, then says GOAWAY with last_stream_id = the first's stream, which
    is below the second's: the second goes on another connection, processed once."""
    server = refusing(lambda i: "goaway:1" if i == 0 else "normal")
    gw = make_gateway(extra=service(pki, server.port))
    tok = gw.mint(hosts=HOST)
    headers = [("authorization", f"Bearer {tok}")]
    with h2lib.Client(gw, HOST) as c:
        first, second = rid(), rid()
        r1 = c.get(f"/{first}", headers + [("x-request-id", first)], method="POST", body=b"one")
        r2 = c.get(f"/{second}", headers + [("x-request-id", second)], method="POST", body=b"two")
    assert (r1.status, json.loads(r1.body)["conn"]) == (200, 0), r1.body
    assert (r2.status, json.loads(r2.body)["conn"]) == (200, 1), r2.body
    check_processed_once(server, first, b"one", "POST")
    check_processed_once(server, second, b"two", "POST")
    assert server.seen == [first, second, second], server.seen


def warm_up_then_burst(gw, server, streams, first_alone=False):
    """One request that teaches the gateway the upstream speaks HTTP/2, then a burst of `streams`
    POSTs on one agent connection: every one answered 200 and processed exactly once. Returns
    the burst's request ids. `first_alone`: the rest leave (in one write) only once the upstream
    has the first one's HEADERS, so they find its connection open and ride it, whatever the
    machine's load (streams that reach the gateway together each dial a connection of their
    own)."""
    tok = gw.mint(hosts=HOST)
    headers = [("authorization", f"Bearer {tok}")]
    assert send(gw, "h2", tok, rid())[0] == 200
    ids = [rid() for _ in range(streams)]
    with h2lib.Client(gw, HOST) as c:
        def post(i):
            return c.request("POST", f"/{i}", headers + [("x-request-id", i)], body=i.encode())

        sids = []
        if first_alone:
            sids.append(post(ids[0]))
            deadline = time.monotonic() + 30
            while ids[0] not in server.seen:
                assert time.monotonic() < deadline, "the first request never reached the upstream"
                time.sleep(0.01)
        with c.batch():
            sids += [post(i) for i in ids[len(sids):]]
        results = c.wait(sids, timeout=60)
    for i, sid in zip(ids, sids):
        r = results[sid]
        assert r.status == 200 and json.loads(r.body)["id"] == i, (r.status, r.body)
        check_processed_once(server, i, i.encode(), "POST")
    return ids


def test_streams_beyond_max_concurrent_streams_1_are_refused_and_retried(make_gateway, pki,
                                                                         refusing):
    """The upstream says SETTINGS_MAX_CONCURRENT_STREAMS=1, but its SETTINGS cross a burst of 4
    streams an HTTP/2 agent sent (they all rode one dial): it answers one and refuses 3, which go
    again on connections of their own (the gateway now knows the limit). Every request answered,
    each processed once."""
    # conn 0 teaches the gateway that the upstream speaks HTTP/2 (a burst then rides one dial),
    # and goes away; conn 1 is the one the burst crosses; later ones hold one stream each.
    server = refusing(lambda i: {0: "once", 1: "late_limit1:4"}.get(i, "limit1"))
    # One worker: what the warm-up taught is in the pool the burst uses.
    gw = make_gateway(serve_args=["--threads", "1"], extra=service(pki, server.port))
    ids = warm_up_then_burst(gw, server, 4, first_alone=True)
    # The three that rode conn 1 crossed its late SETTINGS: refused there, each processed once,
    # on another connection.
    refused = server.refused
    assert len(refused) == 3 and {r[0] for r in refused} == {1}, server.refused
    for refusing_conn, _, request_id, _ in refused:
        assert request_id in ids, server.refused
        conns = [p["conn"] for p in server.processed if p["id"] == request_id]
        assert len(conns) == 1 and conns[0] != refusing_conn, (request_id, server.processed)


def test_a_stream_limit_learned_on_a_connection_gone_away_still_holds(make_gateway, pki,
                                                                     refusing):
    """The upstream's first connection says SETTINGS_MAX_CONCURRENT_STREAMS=1, answers one
    request and goes away (GOAWAY). A burst of 3 afterwards: the gateway remembers the limit its
    SETTINGS taught (not only while that connection lives): the first request's dial is slow,
    and the others do not ride it but get connections of their own (or a free one), so none is
    sent past the limit: nothing refused. (Forgetting it, the burst rode the slow dial, 2
    streams were refused; retries sharing a dial again were refused twice: 502.)"""
    server = refusing(lambda i: "limit1_once" if i == 0 else "limit1", handshake_delay={1: 0.5})
    # One worker: what conn 0 taught is in the pool the burst uses.
    gw = make_gateway(serve_args=["--threads", "1"], extra=service(pki, server.port))
    ids = warm_up_then_burst(gw, server, 3)
    # (A request that comes after another one's answer may reuse its connection.)
    assert server.refused == [], server.refused


@pytest.mark.parametrize("agent", AGENTS)
def test_a_body_past_the_replay_limit_is_not_retried_502(make_gateway, pki, refusing, agent,
                                                         tmp_path):
    """The upstream refuses the stream after 100 KB of a 300 KB body: more than the 64 KiB the
    gateway keeps, so nothing is sent again; the agent gets a clear 502."""
    server = refusing(lambda i: "refuse_after:100000")
    gw = make_gateway(extra=service(pki, server.port))
    tok = gw.mint(hosts=HOST)
    n0 = len(gw.audit())
    request_id = rid()
    status, out = send(gw, agent, tok, request_id, "POST", secrets.token_bytes(300_000), tmp_path)
    assert status == 502, out[:300]
    err = json.loads(out)
    assert err["error"] == "upstream_refused_stream", err
    assert "64 KiB" in err["reason"], err
    assert server.processed == [] and server.connections == 1, server.processed
    rec = record_of(gw, request_id, n0)
    assert rec["status"] == 502 and "64 KiB" in rec["reason"], rec


@pytest.mark.parametrize("agent", AGENTS)
def test_refused_again_after_the_one_retry_is_502(make_gateway, pki, refusing, agent, tmp_path):
    """Every connection refuses: the request is sent twice (one retry), then 502."""
    server = refusing(lambda i: "refuse")
    gw = make_gateway(extra=service(pki, server.port))
    tok = gw.mint(hosts=HOST)
    request_id = rid()
    status, out = send(gw, agent, tok, request_id, "POST", b"small body", tmp_path)
    assert status == 502, out[:300]
    err = json.loads(out)
    assert err["error"] == "upstream_refused_stream" and "again" in err["reason"], err
    assert server.seen == [request_id, request_id], server.seen
    assert server.connections == 2 and server.processed == []


@pytest.mark.parametrize("agent", AGENTS)
def test_no_retry_once_the_response_began(make_gateway, pki, refusing, agent, tmp_path):
    """A response head, some body, then REFUSED_STREAM: bytes may have reached the agent, so the
    request is not sent again; the agent sees a broken response, not a second one."""
    server = refusing(lambda i: "head_then_refuse")
    gw = make_gateway(extra=service(pki, server.port))
    tok = gw.mint(hosts=HOST)
    request_id = rid()
    if agent == "h2":
        with h2lib.Client(gw, HOST) as c:
            sid = c.request("GET", f"/{request_id}", [("authorization", f"Bearer {tok}"),
                                                      ("x-request-id", request_id)])
            r = c.wait([sid])[sid]
        assert r.reset is not None, (r.status, r.body)
    else:
        p = gw.curl("--http1.1", "-H", f"Authorization: Bearer {tok}", "-H",
                    f"x-request-id: {request_id}", f"https://{HOST}/{request_id}", check=False)
        assert p.returncode != 0, p.stdout
    assert server.seen == [request_id], server.seen
    assert server.connections == 1
