"""A throwaway redis-server (Debian's 7.0) for the Redis gateway tests.

It runs in a temporary directory on free 127.0.0.1 ports: a plaintext port whose "default" user
needs a password (requirepass) and which has an ACL user "app", and a TLS port whose certificate
(for "localhost" and 127.0.0.1) comes from a test CA made with openssl. `monitor()` starts a
MONITOR connection that records every command redis-server runs, as evidence of what reached it.
"""
import pathlib
import secrets
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis

from dblib import free_port, wait_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_test_ca(directory: pathlib.Path):
    """ca.pem and server.pem/server.key (SAN localhost and 127.0.0.1) in `directory`."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Cloakroom Redis test CA",
             cwd=directory)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
             cwd=directory)


def encode(*args) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


class Monitor:
    """A MONITOR connection (as the default user): every command the server runs, as text."""

    def __init__(self, port: int, password: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(encode("AUTH", password) + encode("MONITOR"))
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 5
        while b"+OK\r\n+OK\r\n" not in self.text().encode() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _read(self):
        self.sock.settimeout(None)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def text(self) -> str:
        with self.lock:
            return self.data.decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class RedisServer:
    def __init__(self, tmp: pathlib.Path):
        self.tmp = tmp
        self.port = free_port()
        self.tls_port = free_port()
        # Canaries: the real passwords must never show up in anything a client or Cloakroom prints.
        self.default_password = "redis_default_canary_" + secrets.token_hex(8)
        self.app_password = "redis_app_canary_" + secrets.token_hex(8)
        make_test_ca(tmp)
        self.ca = tmp / "ca.pem"
        (tmp / "redis.conf").write_text(
            f"""bind 127.0.0.1
port {self.port}
tls-port {self.tls_port}
tls-cert-file {tmp / 'server.pem'}
tls-key-file {tmp / 'server.key'}
tls-ca-cert-file {self.ca}
tls-auth-clients no
dir {tmp}
save ""
appendonly no
daemonize no
logfile {tmp / 'redis.log'}
requirepass {self.default_password}
user app on >{self.app_password} ~* &* +@all
"""
        )
        self.proc = subprocess.Popen([REDIS_SERVER, str(tmp / "redis.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
            wait_port(self.tls_port)
        except AssertionError:
            self.stop()
            raise AssertionError("redis-server did not start:\n" + self.log())

    def log(self) -> str:
        path = self.tmp / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def direct(self, user: str = "default") -> "redis.Redis":
        """A redis-py client connected straight to the server (not through Cloakroom)."""
        password = self.default_password if user == "default" else self.app_password
        return redis.Redis(host="127.0.0.1", port=self.port, username=user, password=password,
                           decode_responses=True, socket_timeout=5)

    def monitor(self) -> Monitor:
        return Monitor(self.port, self.default_password)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
