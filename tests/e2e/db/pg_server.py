"""A real PostgreSQL 15 for the PostgreSQL gateway tests, started in a temporary directory.

    from pg_server import pg_server   # session-scoped fixture -> PgServer

Listens on 127.0.0.1 only (free port), unix socket in the temp dir, TLS on with a certificate from
a test CA made here with openssl (SAN localhost and 127.0.0.1), log_connections and
log_statement=all to a log file the tests read (leak checks). Users (passwords are canaries):
  app_scram  SCRAM-SHA-256 password
  app_md5    MD5 password (password_encryption = md5 when it was set)
  app_tls    SCRAM-SHA-256, only over TLS (hostssl; hostnossl rejects it)
  app_trust  trust, no password
and a database "shop" with a table "items". PostgreSQL refuses to run as root: as root (CI), the
server runs as the `postgres` system user via runuser, with the temp dir chowned to it.
"""
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import tempfile

import pytest

PG_BIN = pathlib.Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PSQL = "/usr/bin/psql"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_test_ca(directory: pathlib.Path, name: str) -> pathlib.Path:
    """A self-signed EC CA: directory/<name>.pem and .key."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN=Cloakroom test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return directory / f"{name}.pem"


def make_server_cert(directory: pathlib.Path, ca: str):
    """server.crt / server.key for localhost and 127.0.0.1, signed by <ca>."""
    (directory / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
             cwd=directory)


class PgServer:
    def __init__(self):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        tag = secrets.token_hex(6)
        # Canary passwords: the tests assert none of them ever reaches a client or a log.
        self.passwords = {
            "app_scram": f"scram-CANARY-{tag}",
            "app_md5": f"md5-CANARY-{tag}",
            "app_tls": f"tls-CANARY-{tag}",
        }
        self.ca_path = None
        self.wrong_ca_path = None
        self.started = False

    def _run(self, *cmd, **kwargs):
        if self.as_root:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)

    def start(self):
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL 15 not installed ({PG_BIN}); run scripts/setup-e2e")
        certs = self.root / "certs"
        certs.mkdir()
        self.ca_path = make_test_ca(certs, "ca")
        self.wrong_ca_path = make_test_ca(certs, "wrong-ca")
        make_server_cert(certs, "ca")
        os.chmod(certs / "server.key", 0o600)
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            for path in [certs, *certs.iterdir()]:
                shutil.chown(path, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync", timeout=120)
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.root}'
ssl = on
ssl_cert_file = '{certs / "server.crt"}'
ssl_key_file = '{certs / "server.key"}'
log_connections = on
log_disconnections = on
log_statement = 'all'
fsync = off
shared_buffers = 16MB
max_connections = 30
""")
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\n"
            "host all app_trust 127.0.0.1/32 trust\n"
            "hostssl all app_tls 127.0.0.1/32 scram-sha-256\n"
            "hostnossl all app_tls 127.0.0.1/32 reject\n"
            "host all app_md5 127.0.0.1/32 md5\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w",
                  "-t", "60", "start", timeout=90)
        self.started = True
        pw = self.passwords
        self.admin(
            f"""
CREATE USER app_scram PASSWORD '{pw["app_scram"]}';
CREATE USER app_tls PASSWORD '{pw["app_tls"]}';
CREATE USER app_trust;
SET password_encryption = 'md5';
CREATE USER app_md5 PASSWORD '{pw["app_md5"]}';
""")
        self.admin("CREATE DATABASE shop")  # not inside the transaction of a multi-statement -c
        self.admin(
            """
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items VALUES (1, 'apple'), (2, 'pear');
GRANT SELECT ON items TO app_scram, app_md5, app_tls, app_trust;
""", database="shop")
        return self

    def admin(self, sql: str, database: str = "postgres") -> str:
        """Runs SQL as the superuser over the unix socket (never through Cloakroom)."""
        result = subprocess.run(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.root), "-p", str(self.port),
             "-U", "postgres", "-d", database, "-At", "-c", sql],
            capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"psql as postgres failed: {result.stderr}"
        return result.stdout

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.started:
            try:
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                          "stop", timeout=60)
            except subprocess.SubprocessError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer()
    try:
        yield server.start()
    finally:
        server.stop()
