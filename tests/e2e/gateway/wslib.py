"""WebSocket test peers: a python3-websockets TLS server upstream (ws.example.com), shared by the
HTTP/1.1 upgrade tests (test_gateway_websocket.py) and the HTTP/2 extended CONNECT tests
(test_gateway_websocket_h2.py), and an RFC 8441 client over one stream of an h2lib.Client whose
frames are those of websockets' own sans-I/O client."""
import asyncio
import http
import json
import ssl
import threading
import time

import h2.exceptions
import websockets
from websockets.client import ClientConnection
from websockets.connection import State
from websockets.frames import Opcode
from websockets.uri import parse_uri

import gwlib

SECRET = gwlib.SECRETS["bearer"]


class WsUpstream:
    """A TLS WebSocket server on 127.0.0.1 (the suite's upstream certificate, ws.example.com)."""

    def __init__(self, pki):
        self.pki = pki
        self.loop = asyncio.new_event_loop()
        self.port = None
        self.seen_headers = []
        self.flood_sent = 0  # 64 KiB messages /flood got off its hands
        self.ended = []  # paths whose connection ended, in order (set once the handler returns)

    async def process_request(self, path, headers):
        """/reject: the handshake answered 403, the request's credential echoed in a header and
        the body (the agent must see it starred)."""
        if path == "/reject":
            auth = headers.get("Authorization", "")
            return http.HTTPStatus.FORBIDDEN, [("X-Echo-Authorization", auth)], f"refused: {auth}\n".encode()
        return None

    async def handler(self, ws, path):
        try:
            await self.serve(ws, path)
        finally:
            self.ended.append(path)

    async def serve(self, ws, path):
        headers = {k: v for k, v in ws.request_headers.raw_items()}
        self.seen_headers.append(headers)
        if path == "/echo-headers":
            await ws.send(json.dumps(headers))
        elif path == "/fragments":
            # The secret split across three fragments of one text message, plus binary.
            text = f"before {SECRET} after"
            cut1, cut2 = text.index(SECRET) + 5, text.index(SECRET) + 17
            await ws.send(iter([text[:cut1], text[cut1:cut2], text[cut2:]]))
            await ws.send(f"bin:{SECRET}".encode())
        elif path == "/big":
            chunk = "x" * 40000 + SECRET
            await ws.send(chunk * 30)  # ~1.2 MB, the secret 30 times
        elif path == "/ping":
            await ws.ping(f"ping {SECRET}".encode())
        elif path == "/close":
            await ws.close(4001, f"bye {SECRET}")
            return
        elif path == "/deaf":
            # Reads nothing for a while: websockets stops reading the socket once max_queue
            # messages wait, so what an agent can send is held by the relay's flow control.
            await asyncio.sleep(20)
            return
        elif path == "/flood":
            # As fast as the relay takes them: send() waits while the transport's buffer is
            # full, so flood_sent tells how far a slow agent let the server get.
            self.flood_sent = 0
            block = b"f" * 65536
            while True:
                await ws.send(block)
                self.flood_sent += 1
        async for message in ws:  # echo until the client closes
            await ws.send(message)

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.cert, self.pki.key)
        ready = threading.Event()

        async def main():
            self.server = await websockets.serve(self.handler, "127.0.0.1", 0, ssl=ctx,
                                                 compression="deflate", max_size=None, max_queue=4,
                                                 process_request=self.process_request)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            await asyncio.Future()

        threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True).start()
        assert ready.wait(10)
        return self


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code, self.reason = code, reason


class H2WebSocket:
    """A WebSocket over one stream of an h2lib.Client (RFC 8441 extended CONNECT). The frames are
    websockets' sans-I/O client's (masked, fragmented, pings answered, closes as RFC 6455 wants);
    the stream's DATA carries them both ways."""

    def __init__(self, client, path, headers=(), authority=None, protocol="websocket"):
        self.c = client
        pseudo = [(":protocol", protocol)] if protocol is not None else []
        self.sid = client.request("CONNECT", path,
                                  [*pseudo, ("sec-websocket-version", "13"), *headers],
                                  authority=authority, end=False)
        self.ws = ClientConnection(parse_uri(f"wss://{client.host}{path}"), state=State.OPEN,
                                   max_size=None)
        self.partial = None  # (opcode, [payloads]) of a fragmented message
        self.frames = []     # every data frame received, as (fin, opcode, len(payload))
        self.pending = []    # whole messages and the close, not yet returned by recv()
        self.pings = []      # payloads of the pings received (the library answers them)
        self.eof = False

    @property
    def result(self):
        return self.c.results[self.sid]

    def response(self, timeout=15):
        """Waits for the stream's response head (or its end)."""
        deadline = time.monotonic() + timeout
        while self.result.status is None and not self.result.done:
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {self.sid}: no response")
            if not self.c.pump(0.5) and self.result.status is None:
                raise ConnectionError(f"connection closed (GOAWAY {self.c.goaway})")
        return self.result

    def flush(self):
        for data in self.ws.data_to_send():
            if data:
                self.c.send_body(self.sid, data, end=False)
            else:
                try:
                    self.c.conn.end_stream(self.sid)  # the library's EOF: END_STREAM
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    pass  # the stream is over already (reset, or both sides ended)
                self.c.flush()

    def send(self, message, fragments=1):
        """A text (str) or binary (bytes) message, in `fragments` frames."""
        data = message.encode() if isinstance(message, str) else message
        step = -(-len(data) // fragments) if data else 0
        pieces = [data[i:i + step] for i in range(0, len(data), step)] if data else [b""]
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            if i > 0:
                self.ws.send_continuation(piece, fin=fin)
            elif isinstance(message, str):
                self.ws.send_text(piece, fin=fin)
            else:
                self.ws.send_binary(piece, fin=fin)
        self.flush()

    def close(self, code=1000, reason=""):
        self.ws.send_close(code, reason)
        self.flush()

    def _feed(self):
        r = self.result
        if r.body:
            data, r.body = r.body, b""
            self.c.gw.record("h2 websocket bytes", data)
            self.ws.receive_data(data)
        if r.done and not self.eof:
            self.eof = True
            self.ws.receive_eof()
        events = self.ws.events_received()
        self.flush()  # pongs, the close reply
        return events

    def recv(self, timeout=30):
        """The next whole message (str or bytes); Closed once the WebSocket closed."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self._feed():
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    self.frames.append((frame.fin, frame.opcode, len(frame.data)))
                    if frame.opcode != Opcode.CONT:
                        self.partial = (frame.opcode, [])
                    self.partial[1].append(frame.data)
                    if frame.fin:
                        opcode, parts = self.partial
                        self.partial = None
                        data = b"".join(parts)
                        self.pending.append(data.decode() if opcode == Opcode.TEXT else data)
                elif frame.opcode == Opcode.CLOSE:
                    self.pending.append(Closed(self.ws.close_rcvd.code if self.ws.close_rcvd else None,
                                               self.ws.close_rcvd.reason if self.ws.close_rcvd else ""))
                elif frame.opcode == Opcode.PING:
                    self.pings.append(frame.data)
            if self.pending:
                item = self.pending.pop(0)
                if isinstance(item, Closed):
                    raise item
                return item
            if self.result.done and self.eof:
                raise Closed(None, "the stream ended without a Close frame")
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {self.sid}: no message")
            if not self.c.pump(0.5) and not self.result.done:
                raise ConnectionError(f"connection closed (GOAWAY {self.c.goaway})")
