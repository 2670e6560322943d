"""The real `cloakroom serve` with [[database]] listeners, for the database gateway tests.

    gw = CloakroomDb(tmp_path, databases_toml, {"pg_ro": "real-password"}).start()
    token = gw.mint("--db", "app", "--db-login", "readonly", "--db-name", "shop")
    port = gw.port("app")
    ...
    gw.stop()
    gw.assert_never_printed("real-password", token)   # every output cloakroom produced

serve prints one line per database listener:
    cloakroom: listening on 127.0.0.1:PORT (database NAME, PROTOCOL)
"""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = os.environ.get("CLOAKROOM_BIN", str(ROOT / "build" / "cloakroom"))

DB_LISTEN_RE = re.compile(r"listening on (\S+):(\d+) \(database ([^,]+), (\w+)\)")


def toml_str(value) -> str:
    return json.dumps(str(value))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")


class CloakroomDb:
    """cloakroom serve in `tmp` with the given [[database]] TOML and file secrets."""

    def __init__(self, tmp: pathlib.Path, databases_toml: str, secrets: dict, extra_toml: str = "",
                 serve_args=()):
        self.serve_args = list(serve_args)  # after `serve`, e.g. ["--db-relay-threads", "0"]
        self.tmp = pathlib.Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.config = self.tmp / "cloakroom.toml"
        self.audit_path = self.tmp / "audit.jsonl"
        self.data_dir = self.tmp / "data"
        self.secrets_dir = self.tmp / "secrets"
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)
        for name, value in secrets.items():
            path = self.secrets_dir / name
            path.write_text(value + "\n")
            os.chmod(path, 0o600)
        self.config.write_text(
            f"""# written by tests/e2e/db
[gateway]
listen = "127.0.0.1:0"
audit_log = {toml_str(self.audit_path)}
data_dir = {toml_str(self.data_dir)}

[token]
key_dir = {toml_str(self.tmp / "keys")}

[secrets]
dir = {toml_str(self.secrets_dir)}
{extra_toml}
{databases_toml}
"""
        )
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "LANG": "C.UTF-8",
        }
        self.ports = {}
        self.protocols = {}
        self.stderr_lines = []
        self.stdout_chunks = []
        self.cli_outputs = []
        self.cond = threading.Condition()
        self.proc = None
        self.expected = self._database_names(databases_toml)

    @staticmethod
    def _database_names(text: str):
        return re.findall(r'^\s*name\s*=\s*"([^"]+)"', text, re.M)

    # -- lifecycle
    def start(self, timeout: float = 15.0):
        self.proc = subprocess.Popen(
            [BIN, "--config", str(self.config), "serve", *self.serve_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
        )
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, False), daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(name in self.ports for name in self.expected):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self.cond.wait(min(left, 0.2))
        missing = [name for name in self.expected if name not in self.ports]
        if missing:
            self.stop()
            raise AssertionError(
                f"cloakroom serve did not listen for databases {missing} within {timeout}s "
                f"(exit {self.proc.returncode}):\n{self.stderr_text()}"
            )
        return self

    def _pump(self, stream, is_err):
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", "replace")
            with self.cond:
                if is_err:
                    self.stderr_lines.append(text)
                    m = DB_LISTEN_RE.search(text)
                    if m:
                        self.ports[m.group(3)] = int(m.group(2))
                        self.protocols[m.group(3)] = m.group(4)
                else:
                    self.stdout_chunks.append(text)
                self.cond.notify_all()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for t in getattr(self, "_threads", []):
            t.join(timeout=5)

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    # -- access
    def port(self, name: str) -> int:
        return self.ports[name]

    @property
    def ca_path(self) -> pathlib.Path:
        """Cloakroom's CA certificate: what a client trusts for client_tls."""
        return self.data_dir / "ca" / "ca.pem"

    def cli(self, *args, check=True, env=None):
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        proc = subprocess.run([BIN, "--config", str(self.config), *args], env=full_env,
                              capture_output=True, text=True, timeout=30)
        self.cli_outputs += [proc.stdout, proc.stderr]
        if check:
            assert proc.returncode == 0, f"cloakroom {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
        return proc

    def mint(self, *args, valid_for: str = "1h") -> str:
        """A token: `cloakroom mint --valid-for 1h <args>` (e.g. "--db", "app", "--db-login", "ro")."""
        token = self.cli("mint", "--valid-for", valid_for, *args).stdout.strip()
        assert token.startswith("acm_"), token
        return token

    def audit(self, wait_for: int = 0, timeout: float = 5.0):
        """Audit records (dicts) of database sessions; waits until at least `wait_for` exist."""
        deadline = time.monotonic() + timeout
        while True:
            records = []
            if self.audit_path.exists():
                text = self.audit_path.read_text(errors="replace")
                # A record the gateway is writing right now may be read half: only whole lines
                # (ending in a newline) are records.
                for line in text[:text.rfind("\n") + 1].splitlines():
                    if line.strip():
                        record = json.loads(line)
                        if record.get("kind") == "database":
                            records.append(record)
            if len(records) >= wait_for or time.monotonic() > deadline:
                return records
            time.sleep(0.05)

    def stderr_text(self) -> str:
        with self.cond:
            return "".join(self.stderr_lines)

    def all_output(self) -> str:
        """Everything Cloakroom wrote: serve's stderr and stdout, CLI outputs, the audit log."""
        parts = [self.stderr_text(), "".join(self.stdout_chunks), *self.cli_outputs]
        if self.audit_path.exists():
            parts.append(self.audit_path.read_text(errors="replace"))
        return "\n".join(parts)

    def assert_never_printed(self, *values):
        text = self.all_output()
        for value in values:
            assert value and value not in text, "a secret value appeared in cloakroom's output"
