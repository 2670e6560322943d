"""A throwaway MariaDB server for the MySQL gateway tests (Debian's mariadb-server, 10.11).

    server = MariaDB(tmp_dir).start()   # datadir, socket, logs and a test CA under tmp_dir
    server.port, server.ca_path, server.sql("select 1"), server.general_log_text()
    server.stop()

Users (mysql_native_password, as MariaDB creates them by default):
    shop_ro  / RO_PASSWORD   SELECT on shop.*
    shop_tls / TLS_PASSWORD  SELECT on shop.*, REQUIRE SSL
The server presents a certificate for "localhost" and 127.0.0.1 from the fixture's own CA
(server.ca_path), so upstream TLS can be verified (verify-full, server_name = "localhost").
Every statement and connection goes to the general log (server.general_log_path).
"""
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

RO_PASSWORD = "ro_pw_5d1c9e7a_canary_DO_NOT_LEAK"
TLS_PASSWORD = "tls_pw_8b2f4c61_canary_DO_NOT_LEAK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: exit {proc.returncode}\n{proc.stderr}")
    return proc


def make_test_ca(directory: pathlib.Path):
    """A CA and a leaf for localhost/127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca-key.pem", directory / "ca.pem"
    key, csr, cert = directory / "server-key.pem", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
          "-out", ca, "-days", "2", "-subj", "/CN=Cloakroom MySQL test CA"])
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
          "-subj", "/CN=localhost"])
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
          "-out", cert, "-days", "2", "-extfile", ext])
    return ca, cert, key


class MariaDB:
    def __init__(self, tmp: pathlib.Path):
        self.tmp = pathlib.Path(tmp)
        self.datadir = self.tmp / "data"
        self.socket = self.tmp / "mysqld.sock"
        self.general_log_path = self.tmp / "general.log"
        self.error_log_path = self.tmp / "error.log"
        self.port = _free_port()
        self.proc = None
        self.ca_path = None

    def start(self):
        if not shutil.which("mariadbd") and not os.path.exists("/usr/sbin/mariadbd"):
            pytest.skip("mariadb-server is not installed (scripts/setup-e2e)")
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.ca_path, cert, key = make_test_ca(self.tmp / "tls")
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        _run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
              "--auth-root-authentication-method=normal", "--skip-test-db", *as_root])
        self.proc = subprocess.Popen(
            [mariadbd, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
             f"--pid-file={self.tmp / 'mysqld.pid'}", f"--log-error={self.error_log_path}",
             "--general-log=1", f"--general-log-file={self.general_log_path}",
             f"--ssl-ca={self.ca_path}", f"--ssl-cert={cert}", f"--ssl-key={key}",
             "--innodb-buffer-pool-size=16M", "--skip-log-bin", *as_root],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(self._admin_cmd("select 1"), capture_output=True, text=True)
            if probe.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""
                self.stop()
                raise AssertionError(f"mariadbd did not start:\n{log[-3000:]}")
            time.sleep(0.2)
        self.sql(f"""
            CREATE DATABASE shop;
            CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40));
            INSERT INTO shop.items VALUES (1, 'teapot'), (2, 'kettle'), (3, 'whisk');
            CREATE DATABASE other;
            CREATE USER 'shop_ro'@'%' IDENTIFIED VIA mysql_native_password
                USING PASSWORD('{RO_PASSWORD}');
            GRANT SELECT ON shop.* TO 'shop_ro'@'%';
            GRANT SELECT ON other.* TO 'shop_ro'@'%';
            CREATE USER 'shop_tls'@'%' IDENTIFIED VIA mysql_native_password
                USING PASSWORD('{TLS_PASSWORD}') REQUIRE SSL;
            GRANT SELECT ON shop.* TO 'shop_tls'@'%';
        """)
        return self

    def _admin_cmd(self, query):
        return ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch",
                "--skip-column-names", "-e", query]

    def sql(self, query: str) -> str:
        return _run(self._admin_cmd(query)).stdout

    def general_log_text(self) -> str:
        return self.general_log_path.read_text(errors="replace") if self.general_log_path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    server = MariaDB(tmp_path_factory.mktemp("mariadb")).start()
    yield server
    server.stop()
