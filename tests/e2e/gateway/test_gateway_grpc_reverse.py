"""gRPC and other HTTP/2 clients through the reverse base-URL listener (docs/configuration.md,
`reverse_listen`): h2c with prior knowledge on the same port as HTTP/1.1, each stream one exchange
routed on its own, by its authority (`<service>.localhost`, set with grpc.default_authority) or by
its first path segment. A real grpcio client (plain TCP to the listener) and the grpcio server of
test_gateway_grpc.py (TLS, HTTP/2 only); curl --http2-prior-knowledge; HTTP/1.1 beside them."""
import json
import re
import shutil
import socket
import subprocess
import threading
from concurrent import futures

import hpack
import pytest
from hyperframe import frame as hf

import gwlib
import h2lib
import test_gateway_h2 as h2_attacks  # the attacks and their expected GOAWAY code

grpc = pytest.importorskip("grpc")
from grpc_echo import service_toml  # noqa: E402 (after the skip: the module imports grpc)

S = gwlib.SECRETS
HOST = "grpc.example.com"


@pytest.fixture(scope="module")
def rgw(tmp_path_factory, pki, nginx, pyup, leaks, grpc_server):
    f = gwlib.GatewayFactory(tmp_path_factory.mktemp("grpcrev"), pki, nginx, pyup, leaks)
    extra = service_toml(HOST, grpc_server, pki, gwlib.toml_str)
    gw = f(extra=extra, reverse_listen="127.0.0.1:0")
    assert gw.wait_stderr(r"reverse base URL", timeout=5), gw.stderr_text()
    assert gw.reverse_port, gw.stderr_text()
    gw.base = f"http://127.0.0.1:{gw.reverse_port}"
    yield gw
    f.stop_all()


def channel(gw, authority="grpc.localhost"):
    """An insecure channel to the reverse listener (h2c with prior knowledge), one connection.
    `authority` None: the listener's own address, so the path's first segment names the service."""
    options = [("grpc.enable_retries", 0), ("grpc.enable_http_proxy", 0)]
    if authority is not None:
        options.append(("grpc.default_authority", authority))
    return grpc.insecure_channel(f"127.0.0.1:{gw.reverse_port}", options=options)


def call_meta(tok):
    return (("authorization", f"Bearer {tok}"),)


def new_records(gw, n0, n):
    recs = gw.wait_audit(n0 + n)[n0:]
    assert len(recs) == n, recs
    return recs


def test_unary_by_authority_injects_and_redacts_metadata_trailers_and_message(rgw, grpc_server):
    gw = rgw
    tok = gw.mint(hosts=HOST)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        unary = ch.unary_unary("/test.Echo/Unary")
        reply, call = unary.with_call(b"hello", metadata=call_meta(tok), timeout=20)
        head = dict(call.initial_metadata())
        trailers = dict(call.trailing_metadata())
    gw.record("grpc reverse unary", repr(reply) + repr(head) + repr(trailers))
    # The server got the real key; the client sent only its token.
    assert grpc_server.seen_auth[-1] == "Bearer " + S["bearer"]
    # Every echo of the key comes back starred: the message, the headers, the trailers.
    assert S["bearer"].encode() not in reply
    assert reply.startswith(b"auth=") and reply.endswith(b";req=hello"), reply
    assert gwlib.is_redacted_bearer(reply[5:-10].decode())
    assert gwlib.is_redacted_bearer(head["x-echo-auth-head"]), head
    assert gwlib.is_redacted_bearer(trailers["x-echo-auth"]), trailers
    assert trailers["x-plain"] == "kept"
    assert call.code() == grpc.StatusCode.OK
    (rec,) = new_records(gw, n0, 1)
    assert (rec["service"], rec["path"], rec["decision"], rec["status"]) == (
        "grpc", "/test.Echo/Unary", "allow", 200), rec


def test_a_non_ok_status_in_the_trailers_reaches_the_client_redacted(rgw):
    gw = rgw
    tok = gw.mint(hosts=HOST)
    with channel(gw) as ch:
        fail = ch.unary_unary("/test.Echo/Fail")
        with pytest.raises(grpc.RpcError) as err:
            fail(b"reason-42", metadata=call_meta(tok), timeout=20)
    gw.record("grpc reverse fail", repr(err.value))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, err.value
    details = err.value.details()
    prefix = "upstream says no: reason-42 / "
    assert details.startswith(prefix), details
    assert S["bearer"] not in details
    assert gwlib.is_redacted_bearer(details[len(prefix):]), details


def test_server_streaming(rgw):
    gw = rgw
    tok = gw.mint(hosts=HOST)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        stream = ch.unary_stream("/test.Echo/Stream")
        got = list(stream(b"1500", metadata=call_meta(tok), timeout=60))
    assert len(got) == 1500
    assert got[0].startswith(b"0:") and got[-1].startswith(b"1499:")
    (rec,) = new_records(gw, n0, 1)
    assert rec["path"] == "/test.Echo/Stream" and rec["status"] == 200, rec


def ping_pong(call_fn, tok, count, between=None):
    """Sends message i only once the answer to i-1 came back: a gateway that buffers a direction
    until the client half-closes deadlocks (the call then times out). `between(i)` runs after
    answer i, with the call still open."""
    cond = threading.Condition()
    answers = []

    def requests():
        for i in range(count):
            yield b"m%d" % i
            with cond:
                if not cond.wait_for(lambda: len(answers) > i, timeout=15):
                    return
            if between is not None:
                between(i)

    for answer in call_fn(requests(), metadata=call_meta(tok), timeout=60):
        with cond:
            answers.append(answer)
            cond.notify_all()
    return answers


def test_bidirectional_streaming_is_not_buffered_until_close(rgw):
    gw = rgw
    tok = gw.mint(hosts=HOST)
    with channel(gw) as ch:
        answers = ping_pong(ch.stream_stream("/test.Echo/Bidi"), tok, 20)
    assert answers == [b"echo:m%d" % i for i in range(20)]


def test_a_refused_stream_leaves_its_sibling_on_the_same_connection_going(rgw, grpc_server):
    """Path routing on one channel (one connection): /grpc/... is the gRPC service, /api/... is a
    service the token does not cover. The refused call arrives while a bidirectional call on the
    same connection is half done; that call goes on. Both records carry the same client address
    (the same connection)."""
    gw = rgw
    tok = gw.mint(hosts=HOST)
    seen = len(grpc_server.seen_auth)
    n0 = len(gw.audit())
    refused = []

    with channel(gw, authority=None) as ch:
        other = ch.unary_unary("/api/test.Echo/Unary")

        def between(i):
            if i == 2:
                with pytest.raises(grpc.RpcError) as err:
                    other(b"x", metadata=call_meta(tok), timeout=20)
                refused.append(err.value)

        answers = ping_pong(ch.stream_stream("/grpc/test.Echo/Bidi"), tok, 6, between)
    assert answers == [b"echo:m%d" % i for i in range(6)]
    assert len(refused) == 1 and refused[0].code() == grpc.StatusCode.PERMISSION_DENIED, refused
    # Only the allowed call reached the server, with the real key.
    assert grpc_server.seen_auth[seen:] == ["Bearer " + S["bearer"]]
    recs = new_records(gw, n0, 2)
    by_service = {r["service"]: r for r in recs}
    assert by_service["api"]["status"] == 403 and by_service["api"]["decision"] == "deny", recs
    assert by_service["grpc"]["status"] == 200 and by_service["grpc"]["path"] == "/test.Echo/Bidi"
    assert recs[0]["client"] == recs[1]["client"], recs


def test_an_authority_naming_a_service_outside_the_token_is_refused(rgw, grpc_server):
    gw = rgw
    tok = gw.mint(hosts="api.example.com")
    seen = len(grpc_server.seen_auth)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/test.Echo/Unary")(b"x", metadata=call_meta(tok), timeout=20)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value
    assert len(grpc_server.seen_auth) == seen
    (rec,) = new_records(gw, n0, 1)
    assert (rec["service"], rec["status"], rec["decision"]) == ("grpc", 403, "deny"), rec


def test_an_authority_and_a_path_that_name_no_service_are_refused_per_stream(rgw, grpc_server):
    """`grpc.default_authority` left at the listener's address and a gRPC path: no service is
    named, the stream is refused (404, which gRPC reports as UNIMPLEMENTED) and the channel goes
    on serving a call that does name one."""
    gw = rgw
    tok = gw.mint(hosts=HOST)
    n0 = len(gw.audit())
    with channel(gw, authority=None) as ch:
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/test.Echo/Unary")(b"x", metadata=call_meta(tok), timeout=20)
        reply = ch.unary_unary("/grpc/test.Echo/Unary")(b"ok", metadata=call_meta(tok), timeout=20)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, err.value
    assert reply.endswith(b";req=ok")
    recs = new_records(gw, n0, 2)
    assert sorted(r["status"] for r in recs) == [200, 404], recs


def test_many_concurrent_calls_on_one_connection_each_get_a_record(rgw):
    gw = rgw
    tok = gw.mint(hosts=HOST)
    n0 = len(gw.audit())
    with channel(gw) as ch:
        unary = ch.unary_unary("/test.Echo/Unary")
        with futures.ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(
                lambda i: unary(b"c%d" % i, metadata=call_meta(tok), timeout=30), range(32)))
    for i, reply in enumerate(replies):
        assert reply.endswith(b";req=c%d" % i)
        assert S["bearer"].encode() not in reply
    recs = new_records(gw, n0, 32)
    assert all(r["path"] == "/test.Echo/Unary" and r["status"] == 200 for r in recs), recs
    assert len({r["client"] for r in recs}) == 1, recs  # one connection


def curl(gw, *args):
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", *args], capture_output=True, timeout=30)
    gw.record("curl h2c", p.stdout + p.stderr)
    return p


def test_curl_h2_prior_knowledge_with_a_path_prefix(rgw):
    gw = rgw
    tok = gw.mint(hosts="api.example.com")
    n0 = len(gw.audit())
    p = curl(gw, "--http2-prior-knowledge", "-H", f"Authorization: Bearer {tok}",
             "-w", "\n%{http_version} %{http_code}", f"{gw.base}/api/v1/customers?limit=3")
    out = p.stdout.decode()
    body, _, status = out.rpartition("\n")
    assert status == "2 200", out + p.stderr.decode()
    echo = json.loads(body)
    assert echo["auth_check"] == "bearer-ok" and echo["request_uri"] == "/v1/customers?limit=3"
    assert S["bearer"] not in out and tok not in out
    (rec,) = new_records(gw, n0, 1)
    assert (rec["service"], rec["path"], rec["status"]) == ("api", "/v1/customers", 200), rec


@pytest.mark.skipif(not shutil.which("nghttp"), reason="nghttp missing: run scripts/setup-e2e")
def test_streams_of_one_connection_are_routed_each_on_its_own(rgw):
    """nghttp sends both requests at once on one connection (curl 7.88 cannot reuse an h2c
    connection, curl/curl#10634): a stream to a service outside the token's scope is refused
    alone, its sibling to the token's service is served."""
    gw = rgw
    tok = gw.mint(hosts="api.example.com")
    n0 = len(gw.audit())
    p = subprocess.run(["nghttp", "-v", "-H", f"Authorization: Bearer {tok}",
                        f"{gw.base}/api/v1/customers", f"{gw.base}/keys/v1/x"],
                       capture_output=True, timeout=30)
    out = p.stdout.decode()
    gw.record("nghttp h2c", out + p.stderr.decode())
    assert p.returncode == 0, out[-3000:] + p.stderr.decode()
    statuses = sorted(re.findall(r"recv \(stream_id=\d+\) :status: (\d+)", out))
    assert statuses == ["200", "403"], out[-3000:]
    assert "bearer-ok" in out and "token_forbidden" in out
    recs = new_records(gw, n0, 2)
    assert sorted((r["service"], r["status"]) for r in recs) == [("api", 200), ("keys", 403)]
    assert recs[0]["client"] == recs[1]["client"], recs  # one connection


def test_curl_h2_prior_knowledge_by_authority(rgw):
    gw = rgw
    tok = gw.mint(hosts="api.example.com")
    p = curl(gw, "--http2-prior-knowledge", "-H", f"Authorization: Bearer {tok}",
             "-H", "Host: api.localhost", "-w", "\n%{http_version} %{http_code}",
             f"{gw.base}/v1/charges")
    body, _, status = p.stdout.decode().rpartition("\n")
    assert status == "2 200", p.stdout + p.stderr
    echo = json.loads(body)
    assert echo["auth_check"] == "bearer-ok" and echo["request_uri"] == "/v1/charges"
    assert echo["host"] == "api.example.com"


def test_http1_on_the_same_listener_still_works(rgw):
    gw = rgw
    tok = gw.mint(hosts="api.example.com")
    for extra in ([], ["-H", "Host: api.localhost"]):
        path = "/v1/x" if extra else "/api/v1/x"
        p = curl(gw, "--http1.1", "-H", f"Authorization: Bearer {tok}", *extra,
                 "-w", "\n%{http_version} %{http_code}", f"{gw.base}{path}")
        body, _, status = p.stdout.decode().rpartition("\n")
        assert status == "1.1 200", p.stdout + p.stderr
        assert json.loads(body)["request_uri"] == "/v1/x"
    # A client that starts like the preface but is not HTTP/2 is answered as HTTP/1.1.
    with socket.create_connection(("127.0.0.1", gw.reverse_port), timeout=10) as s:
        s.sendall(b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n")
        r = gwlib.read_response(s.makefile("rb"))
    assert 400 <= r.status < 500, r


class PlainRaw(h2lib.Raw):
    """h2lib.Raw over plain TCP to the reverse listener: the test writes the frames itself."""

    def __init__(self, gw):  # noqa: the TLS tunnel of the base class is not wanted
        self.sock = socket.create_connection(("127.0.0.1", gw.reverse_port), timeout=10)
        self.encoder = hpack.Encoder()
        self.buffer = b""
        self.send(h2lib.PREFACE + hf.SettingsFrame(0).serialize())

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("attack", [h2_attacks.rapid_reset, h2_attacks.ping_flood,
                                    h2_attacks.settings_flood, h2_attacks.continuation_flood],
                         ids=lambda f: f.__name__)
def test_the_http2_limits_hold_on_the_plain_listener(rgw, attack):
    """The same session limits as on intercepted connections: the attacker's connection ends with
    GOAWAY ENHANCE_YOUR_CALM while a gRPC channel opened before it keeps being served."""
    gw = rgw
    tok = gw.mint(hosts=HOST)
    with channel(gw) as ch:
        unary = ch.unary_unary("/test.Echo/Unary")
        assert unary(b"before", metadata=call_meta(tok), timeout=20).endswith(b";req=before")
        raw = PlainRaw(gw)
        try:
            attack(raw)
            code, closed, frames = raw.goaway()
        finally:
            raw.close()
        assert code == h2_attacks.ENHANCE_YOUR_CALM, [type(f).__name__ for f in frames][-5:]
        assert closed
        assert unary(b"after", metadata=call_meta(tok), timeout=20).endswith(b";req=after")
