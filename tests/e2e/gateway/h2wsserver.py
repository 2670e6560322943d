"""An HTTP/2-only WebSocket server (RFC 8441 extended CONNECT): python3-h2 over TLS with ALPN "h2"
only, and python3-wsproto's frame-level connection on each stream. `connect_protocol=False`: its
SETTINGS do not enable extended CONNECT (an h2-only server with no way to open a WebSocket).

Paths: /echo (every message back, fragment by fragment, as it came), /echo-headers (first the
request's header list as JSON, then echo), /close (a Close frame 4001 whose reason quotes the
Authorization it received), /fragments (the Authorization it received split across three
fragments of a text message), /big (a ~1 MB message quoting it 20 times). Streams are served
with flow control both ways: the server reads what a stream's window allows and acknowledges it
as wsproto takes it; it sends as the client's windows allow."""
import json
import ssl

import h2.events
import h2.exceptions
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

import h2lib


class H2WebSocketServer(h2lib.H2TlsServer):
    def __init__(self, pki, connect_protocol=True):
        self.connect_protocol = connect_protocol
        self.requests = []   # every stream's header list (dict), as it arrived
        self.received = []   # (path, message) the server got whole
        self.alpn = []       # the protocol each connection chose
        super().__init__(pki)

    def serve(self, tls, index):
        with self.lock:
            self.alpn.append(tls.selected_alpn_protocol())
        if tls.selected_alpn_protocol() != "h2":
            tls.close()  # HTTP/1.1 is not spoken here
            return
        codes = h2.settings.SettingCodes
        # In the server's first SETTINGS (a client decides on those).
        conn = self.h2_connection({codes.MAX_CONCURRENT_STREAMS: 100,
                                   codes.ENABLE_CONNECT_PROTOCOL: 1}
                                  if self.connect_protocol else None)
        streams = {}  # id -> {"ws": Connection, "path", "auth", "out": bytearray, "end": bool}

        def flush_stream(sid):
            s = streams.get(sid)
            if s is None:
                return
            while s["out"]:
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if window <= 0:
                    return
                piece, s["out"] = bytes(s["out"][:window]), s["out"][window:]
                conn.send_data(sid, piece)
            if s["end"] and not s.get("ended"):
                s["ended"] = True
                conn.end_stream(sid)

        def send(sid, event):
            streams[sid]["out"] += streams[sid]["ws"].send(event)
            flush_stream(sid)

        def opened(sid, headers):
            ws = Connection(ConnectionType.SERVER)
            auth = headers.get("authorization", "")
            streams[sid] = {"ws": ws, "path": headers.get(":path"), "auth": auth,
                            "out": bytearray(), "end": False, "parts": []}
            conn.send_headers(sid, [(":status", "200"), ("x-server", "h2ws")])
            path = headers.get(":path")
            if path == "/echo-headers":
                send(sid, TextMessage(json.dumps(headers)))
            elif path == "/close":
                send(sid, CloseConnection(4001, f"bye {auth}"))
            elif path == "/fragments":
                text = f"before {auth} after"
                at = text.index(auth) if auth else 0
                cuts = [0, at + 5, at + 17, len(text)]
                for i in range(3):
                    send(sid, TextMessage(text[cuts[i]:cuts[i + 1]], message_finished=i == 2))
            elif path == "/big":
                send(sid, TextMessage(("y" * 50000 + auth) * 20))

        def on_frames(sid, data):
            s = streams[sid]
            if s["ws"].state.name == "CLOSED":
                return  # bytes after the closing handshake: nothing more to say
            s["ws"].receive_data(data)
            for ev in s["ws"].events():
                if isinstance(ev, Message):
                    s["parts"].append(ev.data)
                    if ev.message_finished:
                        whole = ("" if isinstance(ev, TextMessage) else b"").join(s["parts"])
                        s["parts"] = []
                        with self.lock:
                            self.received.append((s["path"], whole))
                    # Echo fragment by fragment: a fragmented message stays fragmented.
                    if isinstance(ev, TextMessage):
                        send(sid, TextMessage(ev.data, message_finished=ev.message_finished))
                    elif isinstance(ev, BytesMessage):
                        send(sid, BytesMessage(ev.data, message_finished=ev.message_finished))
                elif isinstance(ev, Ping):
                    send(sid, ev.response())
                elif isinstance(ev, CloseConnection):
                    if s["ws"].state.name == "REMOTE_CLOSING":  # the client closed first
                        send(sid, ev.response())
                    s["end"] = True
                    flush_stream(sid)

        try:
            tls.sendall(conn.data_to_send())
            while True:
                data = tls.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        headers = dict(ev.headers)
                        with self.lock:
                            self.requests.append(headers)
                        if headers.get(":method") == "CONNECT" and \
                                headers.get(":protocol") == "websocket":
                            opened(ev.stream_id, headers)
                        else:
                            conn.send_headers(ev.stream_id, [(":status", "404")], end_stream=True)
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        if ev.stream_id in streams:
                            on_frames(ev.stream_id, ev.data)
                    elif isinstance(ev, h2.events.StreamEnded):
                        s = streams.get(ev.stream_id)
                        if s is not None and not s["end"]:
                            s["end"] = True
                            flush_stream(ev.stream_id)
                    elif isinstance(ev, h2.events.WindowUpdated):
                        for sid in ([ev.stream_id] if ev.stream_id else list(streams)):
                            flush_stream(sid)
                    elif isinstance(ev, h2.events.StreamReset):
                        streams.pop(ev.stream_id, None)
                out = conn.data_to_send()
                if out:
                    tls.sendall(out)
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            return
