"""The gRPC upstream of the gRPC e2e tests: a real grpcio server over TLS (which speaks HTTP/2 only)
with generic handlers on raw bytes (no protoc)."""
from concurrent import futures

import grpc


class EchoServer:
    """test.Echo: Unary echoes the authorization it got, Fail aborts with a status, Stream sends n
    messages, Bidi answers each message as it comes (a ping-pong that deadlocks if either side is
    buffered until close)."""

    def __init__(self, pki):
        self.seen_auth = []
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
            "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
        }
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Echo", handlers),))
        creds = grpc.ssl_server_credentials(
            [(pki.key.read_bytes(), pki.cert.read_bytes())])
        self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.server.start()

    def _auth(self, ctx):
        auth = dict(ctx.invocation_metadata()).get("authorization", "")
        self.seen_auth.append(auth)
        return auth

    def unary(self, request, ctx):
        auth = self._auth(ctx)
        ctx.send_initial_metadata((("x-echo-auth-head", auth),))
        ctx.set_trailing_metadata((("x-echo-auth", auth), ("x-plain", "kept")))
        return b"auth=" + auth.encode() + b";req=" + request

    def fail(self, request, ctx):
        auth = self._auth(ctx)
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION,
                  "upstream says no: " + request.decode() + " / " + auth)

    def stream(self, request, ctx):
        self._auth(ctx)
        n = int(request.decode())
        for i in range(n):
            yield b"%d:" % i + b"x" * 1000

    def bidi(self, requests, ctx):
        self._auth(ctx)
        for r in requests:
            yield b"echo:" + r

    def stop(self):
        self.server.stop(0)


def service_toml(host, server, pki, toml_str):
    """The [[service]] block that sends `host` to `server` (its real key: file:api.key)."""
    return f"""
[[service]]
name = "grpc"
hosts = ["{host}"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = "127.0.0.1:{server.port}"
upstream_ca = {toml_str(pki.ca)}
allow_private = true
"""
