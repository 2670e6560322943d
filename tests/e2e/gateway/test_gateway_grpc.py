"""gRPC through the gateway (docs/architecture.md, "HTTP/2"): a real grpcio server over TLS, which
speaks HTTP/2 only, and a grpcio client through the forward proxy (CONNECT, the channel's
grpc.http_proxy). The gateway speaks HTTP/2 on both sides: unary, server-streaming and bidirectional
calls, the `authorization` metadata's token swapped for the real key (the server sees the key, the
client only stars), the status and message in the trailers, and a call the token forbids refused
with an HTTP status the client maps to a gRPC code. Generic handlers with raw bytes: no protoc."""
import threading
from concurrent import futures

import pytest

import gwlib

grpc = pytest.importorskip("grpc")
from grpc_echo import service_toml  # noqa: E402 (after the skip: the module imports grpc)

S = gwlib.SECRETS
HOST = "grpc.example.com"


@pytest.fixture(scope="module")
def grpc_gw(tmp_path_factory, pki, nginx, pyup, leaks, grpc_server):
    f = gwlib.GatewayFactory(tmp_path_factory.mktemp("grpcgw"), pki, nginx, pyup, leaks)
    extra = service_toml(HOST, grpc_server, pki, gwlib.toml_str) + """
[[service.deny]]
paths = ["/test.Echo/Fail"]
methods = ["PUT"]

[[service.deny]]
paths = ["/test.Admin/**"]
"""
    gw = f(extra=extra)
    yield gw
    f.stop_all()


def channel(gw):
    creds = grpc.ssl_channel_credentials(root_certificates=gw.ca_path.read_bytes())
    return grpc.secure_channel(f"{HOST}:443", creds, options=(
        ("grpc.http_proxy", gw.proxy_url),
        ("grpc.enable_retries", 0),
    ))


def call_meta(tok):
    return (("authorization", f"Bearer {tok}"),)


def test_unary_injects_the_key_and_redacts_its_echo_in_message_and_trailers(grpc_gw, grpc_server):
    gw = grpc_gw
    tok = gw.mint(hosts=HOST)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        unary = ch.unary_unary("/test.Echo/Unary")
        reply, call = unary.with_call(b"hello", metadata=call_meta(tok), timeout=20)
    gw.record("grpc unary", repr(reply) + repr(call.trailing_metadata()))
    # The server got the real key, not the token.
    assert grpc_server.seen_auth[-1] == "Bearer " + S["bearer"]
    # The client sees the echo starred, the framing intact (redaction keeps lengths).
    assert S["bearer"].encode() not in reply
    assert reply.startswith(b"auth=") and reply.endswith(b";req=hello"), reply
    assert gwlib.is_redacted_bearer(reply[5:-10].decode())
    trailers = dict(call.trailing_metadata())
    assert gwlib.is_redacted_bearer(trailers["x-echo-auth"]), trailers
    assert trailers["x-plain"] == "kept"
    assert call.code() == grpc.StatusCode.OK
    recs = gw.wait_audit(n0 + 1)[n0:]
    assert [(r["path"], r["decision"], r["status"]) for r in recs] == [
        ("/test.Echo/Unary", "allow", 200)], recs


def test_status_and_message_in_the_trailers_arrive_intact(grpc_gw):
    gw = grpc_gw
    tok = gw.mint(hosts=HOST)
    with channel(gw) as ch:
        fail = ch.unary_unary("/test.Echo/Fail")
        with pytest.raises(grpc.RpcError) as err:
            fail(b"reason-42", metadata=call_meta(tok), timeout=20)
    gw.record("grpc fail", repr(err.value))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = err.value.details()
    assert details.startswith("upstream says no: reason-42 / "), details
    # The message echoed the key: starred, length kept.
    assert S["bearer"] not in details
    assert gwlib.is_redacted_bearer(details[len("upstream says no: reason-42 / "):]), details


def test_server_streaming_many_messages(grpc_gw):
    gw = grpc_gw
    tok = gw.mint(hosts=HOST)
    with channel(gw) as ch:
        stream = ch.unary_stream("/test.Echo/Stream")
        got = list(stream(b"2000", metadata=call_meta(tok), timeout=60))
    # ~2 MB through the stream windows of both sides.
    assert len(got) == 2000
    assert got[0].startswith(b"0:") and got[-1].startswith(b"1999:")


def test_bidirectional_ping_pong_is_not_buffered_until_close(grpc_gw):
    """The client sends the next message only after the answer to the previous one came back:
    a gateway that waits for the request's end before relaying the response deadlocks."""
    gw = grpc_gw
    tok = gw.mint(hosts=HOST)
    outbox = []
    cond = threading.Condition()
    answers = []

    def requests():
        for i in range(20):
            with cond:
                outbox.append(i)
            yield b"m%d" % i
            with cond:
                ok = cond.wait_for(lambda: len(answers) > i, timeout=10)
            if not ok:
                return

    with channel(gw) as ch:
        bidi = ch.stream_stream("/test.Echo/Bidi")
        for answer in bidi(requests(), metadata=call_meta(tok), timeout=60):
            with cond:
                answers.append(answer)
                cond.notify_all()
    assert answers == [b"echo:m%d" % i for i in range(20)]


def test_many_concurrent_calls_share_the_upstream(grpc_gw, grpc_server):
    gw = grpc_gw
    tok = gw.mint(hosts=HOST)
    with channel(gw) as ch:
        unary = ch.unary_unary("/test.Echo/Unary")
        with futures.ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(
                lambda i: unary(b"c%d" % i, metadata=call_meta(tok), timeout=30), range(64)))
    for i, reply in enumerate(replies):
        assert reply.endswith(b";req=c%d" % i)
        assert S["bearer"].encode() not in reply


def test_a_call_the_token_forbids_is_refused_with_a_grpc_code(grpc_gw, grpc_server):
    gw = grpc_gw
    tok = gw.mint(hosts=HOST, paths="/test.Echo/Unary")
    seen = len(grpc_server.seen_auth)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        stream = ch.unary_stream("/test.Echo/Stream")
        with pytest.raises(grpc.RpcError) as err:
            list(stream(b"3", metadata=call_meta(tok), timeout=20))
        # an invalid token: 401, which gRPC maps to UNAUTHENTICATED
        unary = ch.unary_unary("/test.Echo/Unary")
        with pytest.raises(grpc.RpcError) as bad:
            unary(b"x", metadata=call_meta(tok[:-4] + "AAAA"), timeout=20)
        # the same channel still works for an allowed call
        assert unary(b"ok", metadata=call_meta(tok), timeout=20).endswith(b";req=ok")
    gw.record("grpc refused", repr(err.value) + repr(bad.value))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value
    assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED, bad.value
    # the refused calls never reached the server
    assert len(grpc_server.seen_auth) == seen + 1
    recs = gw.wait_audit(n0 + 3)[n0:]
    assert sorted((r["path"], r["status"]) for r in recs) == sorted([
        ("/test.Echo/Stream", 403), ("/test.Echo/Unary", 401), ("/test.Echo/Unary", 200)]), recs


def test_a_call_the_service_rules_deny_is_refused_whatever_the_token(grpc_gw, grpc_server):
    """[[service.deny]] on a gRPC path: refused before the upstream, with or without a token."""
    gw = grpc_gw
    tok = gw.mint(hosts=HOST)
    seen = len(grpc_server.seen_auth)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        admin = ch.unary_unary("/test.Admin/Wipe")
        for meta in (call_meta(tok), ()):
            with pytest.raises(grpc.RpcError) as err:
                admin(b"x", metadata=meta, timeout=20)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value
    assert len(grpc_server.seen_auth) == seen
    recs = gw.wait_audit(n0 + 2)[n0:]
    assert len(recs) == 2 and all(
        r["path"] == "/test.Admin/Wipe" and r["status"] == 403 and r["decision"] == "deny"
        for r in recs), recs
