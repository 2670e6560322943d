"""HTTP/2 clients for the gateway tests: python3-h2 over a CONNECT tunnel (TLS with ALPN h2), and raw
frames (hyperframe + hpack) for the attacks a well-behaved client library refuses to send; and
H2TlsServer, the base of the python3-h2 test upstreams."""
import contextlib
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from hyperframe import frame as hf

import gwlib


class H2TlsServer:
    """A TLS listener on 127.0.0.1 offering ALPN "h2" only, serving each accepted connection on a
    thread of its own: a subclass implements serve(tls, index) (index: 0 for the first connection
    accepted) and sets its own attributes before calling this __init__. A connection whose TLS
    handshake fails is dropped; whatever serve() raises ends that connection only (a test server:
    the client side asserts); the socket is closed when serve() returns."""

    def __init__(self, pki, backlog=16):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(pki.cert), str(pki.key))
        self.ctx.set_alpn_protocols(["h2"])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.sock.close()

    @staticmethod
    def h2_connection(settings=None, cls=h2.connection.H2Connection):
        """A server-side H2Connection, its first SETTINGS carrying `settings` ({SettingCodes:
        value}), preface queued (data_to_send)."""
        conn = cls(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        if settings:
            conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        conn.initiate_connection()
        return conn

    def serve(self, tls, index):
        raise NotImplementedError

    def _accept(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                index = self.connections
                self.connections += 1
            threading.Thread(target=self._serve, args=(raw, index), daemon=True).start()

    def _serve(self, raw, index):
        try:
            try:
                tls = self.ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                return
            self.serve(tls, index)
        except Exception:  # noqa: BLE001 (a test server: the client side asserts)
            return
        finally:
            try:
                raw.close()
            except OSError:
                pass


def tls_tunnel(gw, host, port=443, server_hostname=None, alpn=("h2",), timeout=15):
    """CONNECT host:port through the gateway, then TLS verified against Cloakroom's CA."""
    t = gwlib.Tunnel(gw, f"{host}:{port}", timeout=timeout)
    assert t.ok, t.connect
    ctx = ssl.create_default_context(cafile=str(gw.ca_path))
    ctx.set_alpn_protocols(list(alpn))
    t.file.close()
    t.tls = ctx.wrap_socket(t.sock, server_hostname=server_hostname or host)
    t.file = None
    return t


class Result:
    def __init__(self):
        self.status = None
        self.headers = []
        self.body = b""
        self.trailers = []
        self.reset = None  # the RST_STREAM error code, if the stream was reset
        self.done = False

    def response(self):
        """As a gwlib.Response (raw_head: the header list as text, for leak checks)."""
        raw = "".join(f"{k}: {v}\r\n" for k, v in self.headers).encode("latin-1", "replace")
        r = gwlib.Response(self.status, "", self.headers, self.body, raw)
        r.trailers = self.trailers
        r.reset = self.reset
        return r


class Client:
    """One HTTP/2 connection to `host` through the gateway, driven synchronously."""

    def __init__(self, gw, host, port=443, server_hostname=None, settings=None, auto_ack=True):
        self.gw = gw
        self.auto_ack = auto_ack  # False: a slow reader, whose windows never open again
        self.stalled = set()  # streams read slowly: only the connection's window reopens
        self.host = host
        self.tunnel = tls_tunnel(gw, host, port, server_hostname)
        assert self.tunnel.tls.selected_alpn_protocol() == "h2", self.tunnel.tls.selected_alpn_protocol()
        self.sock = self.tunnel.tls
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.results = {}
        self.goaway = None
        self.closed = False
        self._batching = False
        self.flush()

    def flush(self):
        if self._batching:
            return
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    @contextlib.contextmanager
    def batch(self):
        """Requests made inside leave in one write at the end, so the gateway reads them
        together (a burst). Only for bodies within the flow-control window: a body that must
        wait for a WINDOW_UPDATE would wait for ever."""
        self._batching = True
        try:
            yield self
        finally:
            self._batching = False
        self.flush()

    def request(self, method, path, headers=(), body=b"", authority=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"), (":authority", authority or self.host),
                (":path", path), *[(k.lower(), v) for k, v in headers]]
        self.conn.send_headers(sid, hdrs, end_stream=not body and end)
        self.results[sid] = Result()
        if body:
            self.send_body(sid, body, end=end)
        self.flush()
        return sid

    def send_body(self, sid, body, end=True):
        """Sends as much as the flow-control windows allow, waiting for WINDOW_UPDATEs."""
        view = memoryview(body)
        deadline = time.monotonic() + 30
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stream {sid}: the gateway's window stayed shut")
                self.flush()
                self.pump(0.5)
                continue
            n = min(window, len(view))
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self, timeout):
        """Reads what arrives within `timeout`; False once the connection is closed."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            self.on_event(ev)
        self.flush()
        return True

    def on_event(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            r = self.results.setdefault(ev.stream_id, Result())
            r.headers = [(k, v) for k, v in ev.headers if k != ":status"]
            r.status = int(dict(ev.headers)[":status"])
        elif isinstance(ev, h2.events.DataReceived):
            r = self.results.setdefault(ev.stream_id, Result())
            r.body += ev.data
            if ev.stream_id in self.stalled and ev.flow_controlled_length:
                self.conn.increment_flow_control_window(ev.flow_controlled_length)
            elif self.auto_ack:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            self.results.setdefault(ev.stream_id, Result()).trailers = list(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            self.results.setdefault(ev.stream_id, Result()).done = True
        elif isinstance(ev, h2.events.StreamReset):
            r = self.results.setdefault(ev.stream_id, Result())
            r.reset = ev.error_code
            r.done = True
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev.error_code

    def wait(self, sids, timeout=30):
        deadline = time.monotonic() + timeout
        while not all(self.results[s].done for s in sids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"streams not done: {[s for s in sids if not self.results[s].done]}")
            if not self.pump(0.5) and not all(self.results[s].done for s in sids):
                raise ConnectionError(f"connection closed (GOAWAY {self.goaway})")
        out = {s: self.results[s].response() for s in sids}
        for r in out.values():
            self.gw.record("h2 response", r.raw_head + r.body
                           + "".join(f"{k}: {v}" for k, v in r.trailers).encode())
        return out

    def get(self, path, headers=(), method="GET", body=b"", authority=None, timeout=30):
        sid = self.request(method, path, headers, body, authority)
        return self.wait([sid], timeout)[sid]

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.tunnel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(gw, host, path, headers=(), method="GET", body=b"", connect_headers=()):
    """gw.get over HTTP/2: one request on a fresh connection, as a gwlib.Response."""
    assert not connect_headers
    with Client(gw, host) as c:
        return c.get(path, headers, method, body)


# -------------------------------------------------------------------------------- raw frames

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Raw:
    """A TLS connection (ALPN h2) on which the test writes frames itself."""

    def __init__(self, gw, host):
        self.tunnel = tls_tunnel(gw, host)
        self.sock = self.tunnel.tls
        self.encoder = hpack.Encoder()
        self.buffer = b""
        self.send(PREFACE + hf.SettingsFrame(0).serialize())

    def send(self, data):
        self.sock.sendall(data)

    def headers_block(self, host, path="/", extra=()):
        return self.encoder.encode([(":method", "GET"), (":scheme", "https"), (":authority", host),
                                    (":path", path), *extra])

    def frames(self, timeout=5):
        """Frames the gateway sends until it closes the connection or `timeout` passes quietly."""
        out = []
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return out, False
            except (ConnectionError, ssl.SSLError, OSError):
                return out, True
            if not data:
                return out, True
            self.buffer += data
            while len(self.buffer) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) < 9 + length:
                    break
                f.parse_body(memoryview(self.buffer[9:9 + length]))
                self.buffer = self.buffer[9 + length:]
                out.append(f)
                if isinstance(f, hf.PingFrame) is False and isinstance(f, hf.GoAwayFrame):
                    pass

    def goaway(self, timeout=5):
        """The GOAWAY error code the gateway sent before closing (None if none), and whether it closed."""
        frames, closed = self.frames(timeout)
        codes = [f.error_code for f in frames if isinstance(f, hf.GoAwayFrame)]
        return (codes[-1] if codes else None), closed, frames

    def close(self):
        self.tunnel.close()
