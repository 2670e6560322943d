"""A stand-in for the gateway's side of the hand-over socket (docs/sandbox.md, "Hand-over"):
accepts one adopt request, then answers on the adopted sockets: each TCP connection gets
"<kind> <original destination>\\n", each DNS datagram is echoed back prefixed with "dns ".
It tests `cloakroom run`'s side (namespaces, nftables, the hand-over) on its own."""
import json
import os
import socket
import struct
import threading

SO_ORIGINAL_DST = 80
IP6T_SO_ORIGINAL_DST = 80


def original_destination(conn):
    if conn.family == socket.AF_INET:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, = struct.unpack("!H", raw[2:4])
        return f"{socket.inet_ntoa(raw[4:8])}:{port}"
    raw = conn.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)
    port, = struct.unpack("!H", raw[2:4])
    return f"[{socket.inet_ntop(socket.AF_INET6, raw[8:24])}]:{port}"


class FakeGateway:
    def __init__(self, path, owner=None):
        self.path = str(path)
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server.bind(self.path)
        self.server.listen()
        if owner is not None:
            os.chown(os.path.dirname(self.path), owner.pw_uid, owner.pw_gid)
            os.chown(self.path, owner.pw_uid, owner.pw_gid)
        self.requests = []
        self.kinds = []
        self.closed = threading.Event()
        self.datagrams = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.server.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 65536, 16)
        request = json.loads(msg)
        self.requests.append(request)
        conn.send(json.dumps({"ok": True}).encode())
        for kind, fd in zip(request["listeners"], fds):
            sock = socket.socket(fileno=fd)
            self.kinds.append((kind, sock.family, sock.type))
            target = self._dns if sock.type == socket.SOCK_DGRAM else self._tcp
            threading.Thread(target=target, args=(kind, sock), daemon=True).start()
        while conn.recv(100):
            pass
        self.closed.set()

    def _tcp(self, kind, sock):
        while True:
            c, _ = sock.accept()
            try:
                c.sendall(f"{kind} {original_destination(c)}\n".encode())
            finally:
                c.close()

    def _dns(self, kind, sock):
        while True:
            data, peer = sock.recvfrom(2048)
            self.datagrams.append(data)
            sock.sendto(b"dns " + data, peer)

    def close(self):
        self.server.close()
