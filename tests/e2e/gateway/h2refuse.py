"""An HTTP/2-only TLS upstream (python3-h2, ALPN "h2" only) that refuses streams the ways RFC 9113
§8.7 says leave a request unprocessed: RST_STREAM REFUSED_STREAM, a GOAWAY whose last stream id is
below an in-flight stream, and SETTINGS_MAX_CONCURRENT_STREAMS=1 with the extras refused. Every
request it does process is recorded (`processed`), so a test can tell that each request was
processed exactly once, whatever the gateway retried.

Each accepted connection gets the behaviour `plan(index)` names (index 0 is the first):
  "normal"          answer every request
  "once"            answer the first request, then GOAWAY(last_stream_id = its stream) at once
  "head_then_refuse" send a response head, then RST_STREAM(REFUSED_STREAM): too late to retry
  "refuse"          RST_STREAM(REFUSED_STREAM) every stream as its HEADERS arrive
  "refuse_after:N"  read N bytes of the stream's body, then RST_STREAM(REFUSED_STREAM)
  "goaway:N"        answer N requests, then GOAWAY(last_stream_id = the last answered, 0 when
                    none) at the next HEADERS; what is above it is never answered
  "limit1"          SETTINGS_MAX_CONCURRENT_STREAMS=1; a stream beyond one in flight is refused
  "late_limit1:N"   the same, but nothing is sent until N streams arrived (the SETTINGS come late,
                    as they do when a client's burst crosses them); the first is answered
  "limit1_once"     SETTINGS_MAX_CONCURRENT_STREAMS=1, answer the first request, then GOAWAY
A processed request is answered 200 with JSON: the method, path, x-request-id, body length and the
connection's index."""
import hashlib
import json
import socket
import ssl
import time

import h2.connection
import h2.errors
import h2.events
import h2.settings

import h2lib


class _Lenient(h2.connection.H2Connection):
    """python3-h2 would end the connection (TooManyStreamsError) on a stream beyond the limit it
    advertised; the server refuses that stream itself instead, as RFC 9113 §5.1.2 allows."""

    @property
    def open_inbound_streams(self):
        return 0


class RefusingH2(h2lib.H2TlsServer):
    def __init__(self, pki, plan, handshake_delay=None):
        self.plan = plan
        # {index: seconds} before that connection's TLS handshake: a slow dial, which the
        # requests of a burst may ride.
        self.handshake_delay = handshake_delay or {}
        self.processed = []  # dicts: conn, method, path, id, auth, body_len, body_sha
        self.refused = []    # (conn, stream id, x-request-id, how)
        self.seen = []       # every request's x-request-id as its HEADERS arrived
        super().__init__(pki, backlog=64)

    def _serve(self, raw, index):
        time.sleep(self.handshake_delay.get(index, 0))
        super()._serve(raw, index)

    def processed_ids(self):
        with self.lock:
            return [p["id"] for p in self.processed]

    def serve(self, tls, index):
        mode, _, arg = self.plan(index).partition(":")
        n = int(arg) if arg else 0
        limit = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1} \
            if mode in ("limit1", "late_limit1", "limit1_once") else None
        conn = self.h2_connection(limit, cls=_Lenient)
        held = mode == "late_limit1"  # nothing leaves until n streams arrived
        held_since = time.monotonic()
        streams = {}  # id -> {"headers": dict, "body": bytearray}
        active = set()
        answered = []
        goaway_sent = False

        def answer(sid):
            s = streams[sid]
            h = s["headers"]
            record = {"conn": index, "method": h.get(":method"), "path": h.get(":path"),
                      "id": h.get("x-request-id"), "auth": h.get("authorization", ""),
                      "body_len": len(s["body"]),
                      "body_sha": hashlib.sha256(bytes(s["body"])).hexdigest()}
            with self.lock:
                self.processed.append(record)
            shown = {k: v for k, v in record.items() if k != "auth"}
            body = json.dumps(shown).encode()
            conn.send_headers(sid, [(":status", "200"), ("content-type", "application/json"),
                                    ("content-length", str(len(body)))])
            conn.send_data(sid, body, end_stream=True)
            active.discard(sid)
            answered.append(sid)
            if mode in ("once", "limit1_once"):
                conn.close_connection(error_code=0, last_stream_id=sid)

        def refuse(sid, how):
            with self.lock:
                self.refused.append((index, sid, streams[sid]["headers"].get("x-request-id"), how))
            conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            active.discard(sid)
            streams[sid]["refused"] = True

        tls.settimeout(0.2)
        while True:
            try:
                data = tls.recv(65535)
            except socket.timeout:
                data = None
            except (OSError, ssl.SSLError):
                return
            if data == b"":
                return
            if goaway_sent and conn.state_machine.state.name == "CLOSED":
                # After its GOAWAY python3-h2 takes no frame; the socket stays open (a close
                # with unread bytes would be a TCP reset, which can destroy the GOAWAY on its
                # way to the client) and what arrives is dropped.
                continue
            events = conn.receive_data(data) if data else []
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    sid = ev.stream_id
                    headers = dict(ev.headers)
                    streams[sid] = {"headers": headers, "body": bytearray(), "ended": False}
                    with self.lock:
                        self.seen.append(headers.get("x-request-id"))
                    if goaway_sent:
                        continue
                    if mode == "refuse":
                        refuse(sid, "refused")
                    elif mode in ("once", "limit1_once") and answered:
                        continue
                    elif mode == "head_then_refuse":
                        with self.lock:
                            self.processed.append({"conn": index, "id": headers.get("x-request-id"),
                                                   "method": headers.get(":method"),
                                                   "auth": headers.get("authorization", "")})
                        conn.send_headers(sid, [(":status", "200")])
                        conn.send_data(sid, b"partial ")
                        refuse(sid, "after the response head")
                    elif mode == "goaway" and len(answered) >= n:
                        # last_stream_id below this stream: it was never processed.
                        conn.close_connection(error_code=0,
                                              last_stream_id=max(answered, default=0))
                        goaway_sent = True
                    elif mode in ("limit1", "late_limit1", "limit1_once") and active:
                        refuse(sid, "beyond the stream limit")
                    else:
                        active.add(sid)
                elif isinstance(ev, h2.events.DataReceived):
                    s = streams.get(ev.stream_id)
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    if s is None or s.get("refused"):
                        continue
                    s["body"] += ev.data
                    if mode == "refuse_after" and len(s["body"]) >= n:
                        refuse(ev.stream_id, f"after {len(s['body'])} body bytes")
                elif isinstance(ev, h2.events.StreamEnded):
                    s = streams.get(ev.stream_id)
                    if s is None:
                        continue
                    s["ended"] = True
                    if ev.stream_id in active and not held:
                        answer(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    active.discard(ev.stream_id)
            if held and (len(streams) >= n or time.monotonic() - held_since > 15):
                held = False
                # The late SETTINGS go out now, the first stream is answered, and every other
                # one that arrived meanwhile is refused (it was beyond the limit).
                for sid in sorted(active)[1:]:
                    refuse(sid, "beyond the stream limit")
                for sid in sorted(active):
                    if streams[sid]["ended"]:
                        answer(sid)
            if not held:
                out = conn.data_to_send()
                if out:
                    tls.sendall(out)
