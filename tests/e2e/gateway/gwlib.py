"""The gateway under test (`cloakroom serve`), its configuration, and raw HTTP/TLS helpers."""
import base64
import importlib.util
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
NODE_DIR = ROOT / "tests" / "e2e" / "node"

# The shared constants live in tests/e2e/conftest.py; load that file under its own name (importing
# "conftest" would pick whichever conftest pytest loaded last).
_spec = importlib.util.spec_from_file_location("cloakroom_e2e_root_conftest", HERE.parent / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
BIN = _root.BIN
CANARY_SECRET = _root.CANARY_SECRET
CANARY_KEY_B64 = _root.CANARY_KEY_B64

# Every secret the gateway holds is a canary: they all contain CANARY_SECRET, except the query
# parameter one, which the upstream legitimately logs in its request line (it is checked everywhere
# Cloakroom writes and everywhere a client reads, but not in the upstream's own logs).
SECRETS = {
    "bearer": CANARY_SECRET,
    "x_api_key": CANARY_SECRET + "_xkey",
    "git_password": CANARY_SECRET + "_git",
    "query": "qk_canary_31d7e0b2a9c84f56_DO_NOT_LEAK",
}
OTHER_KEY_B64 = base64.b64encode(b"another-signing-key-not-the-gateways-0123").decode()
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(forward proxy\)")
REVERSE_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(reverse base URL")


def stars(value):
    return "*" * len(value)


def is_redacted_bearer(value, secret=None):
    """An echoed `Bearer <secret>` after redaction: the secret (and possibly the scheme) as '*', same length."""
    secret = secret or SECRETS["bearer"]
    return value in ("Bearer " + stars(secret), stars("Bearer " + secret))


# --------------------------------------------------------------------------------------------
# configuration


def toml_str(s):
    return json.dumps(str(s))


def build_config(tmp: pathlib.Path, pki, nginx, py, *, strict=False, listen="127.0.0.1:0",
                 extra="", api_connect_to=None, api_rules=None, allow_hosts=None, reverse_listen=None):
    """The standard cloakroom.toml of the suite: one service per thing a test needs."""
    ng = f"127.0.0.1:{nginx.port}"
    common = f"upstream_ca = {toml_str(pki.ca)}\nallow_private = true\n"
    if api_rules is None:
        api_rules = (
            '[[service.deny]]\nmethods = ["DELETE"]\n\n'
            '[[service.deny]]\npaths = ["/v1/transfers/**"]\n'
        )
    if allow_hosts is None:
        allow_hosts = ["127.0.0.1"]
    return f"""# written by tests/e2e/gateway
[gateway]
listen = {toml_str(listen)}
audit_log = {toml_str(tmp / "audit.jsonl")}
data_dir = {toml_str(tmp / "data")}
strict = {"true" if strict else "false"}
{f"reverse_listen = {toml_str(reverse_listen)}" if reverse_listen else ""}

[token]
key_dir = {toml_str(tmp / "keys")}

[secrets]
dir = {toml_str(tmp / "secrets")}

[allow]
hosts = {json.dumps(allow_hosts)}

[[service]]
name = "api"
hosts = ["api.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {toml_str(api_connect_to or ng)}
{common}
{api_rules}

[[service]]
name = "keys"
hosts = ["keys.example.com"]
credential = {{ type = "header", header = "x-api-key", secret = "file:keys.key" }}
connect_to = {toml_str(ng)}
{common}

[[service]]
name = "git"
hosts = ["git.example.com"]
credential = {{ type = "basic", username_secret = "file:git.user", secret = "file:git.pass" }}
connect_to = {toml_str(ng)}
{common}

[[service]]
name = "query"
hosts = ["query.example.com"]
credential = {{ type = "query", param = "key", secret = "file:query.key" }}
connect_to = {toml_str(ng)}
{common}

[[service]]
name = "plain"
hosts = ["plain.example.com"]
connect_to = {toml_str(ng)}
{common}
[[service.allow]]
methods = ["GET", "HEAD"]

[[service]]
name = "stream"
hosts = ["stream.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {toml_str(f"127.0.0.1:{py.port}")}
{common}

[[service]]
name = "rogue"
hosts = ["rogue.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {toml_str(f"127.0.0.1:{nginx.rogue_port}")}
{common}

[[service]]
name = "mismatch"
hosts = ["mismatch.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {toml_str(ng)}
{common}

[[service]]
name = "noprivate"
hosts = ["noprivate.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {toml_str(ng)}
upstream_ca = {toml_str(pki.ca)}
{extra}
"""


def write_secrets(d: pathlib.Path):
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    for name, value in {
        "api.key": SECRETS["bearer"],
        "keys.key": SECRETS["x_api_key"],
        "git.user": "gitbot",
        "git.pass": SECRETS["git_password"],
        "query.key": SECRETS["query"],
    }.items():
        p = d / name
        p.write_text(value + "\n")
        os.chmod(p, 0o600)


# --------------------------------------------------------------------------------------------
# raw HTTP over sockets


class Response:
    def __init__(self, status, reason, headers, body, raw_head=b""):
        self.status = status
        self.reason = reason
        self.header_list = headers
        self.headers = {}
        for k, v in headers:
            self.headers.setdefault(k.lower(), v)
        self.body = body
        self.raw_head = raw_head

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:300]!r}>"


def read_response(f, method="GET"):
    """Reads one HTTP/1.x response from a binary file object."""
    line = f.readline(65536)
    if not line:
        raise ConnectionError("connection closed before a response")
    raw = line
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    while True:
        h = f.readline(65536)
        raw += h
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    resp = Response(status, reason, headers, b"", raw)
    if (method == "CONNECT" and 200 <= status < 300) or method == "HEAD" or status in (204, 304) \
            or 100 <= status < 200:
        return resp
    te = resp.headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        body = b""
        while True:
            size_line = f.readline(1024)
            if not size_line:
                raise ConnectionError("truncated chunked body")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline(16)
        resp.body = body
    elif "content-length" in resp.headers:
        n = int(resp.headers["content-length"])
        resp.body = f.read(n)
    else:
        resp.body = f.read()
    return resp


class Tunnel:
    """A CONNECT to the gateway, optionally followed by TLS. `connect` holds the CONNECT response."""

    def __init__(self, gw, authority, connect_headers=(), timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)
        head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        for k, v in connect_headers:
            head += f"{k}: {v}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.file = self.sock.makefile("rb")
        self.connect = read_response(self.file, "CONNECT")
        self.tls = None
        self.cert = None

    @property
    def ok(self):
        return 200 <= self.connect.status < 300

    def start_tls(self, server_hostname, cafile, check_hostname=True, verify=None):
        """verify=None: verify the chain only when checking the host name too."""
        ctx = ssl.create_default_context(cafile=str(cafile))
        ctx.check_hostname = check_hostname
        if not check_hostname and not verify:
            ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        self.file.close()
        self.tls = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.cert = self.tls.getpeercert()
        self.cert_der = self.tls.getpeercert(binary_form=True)
        self.file = self.tls.makefile("rb")
        return self

    def send(self, data: bytes):
        (self.tls or self.sock).sendall(data)

    def response(self, method="GET"):
        return read_response(self.file, method)

    def request(self, data: bytes, method="GET"):
        self.send(data)
        return self.response(method)

    def closed_by_peer(self, timeout=3):
        """True when the gateway closed the connection (EOF or reset) within `timeout`."""
        s = self.tls or self.sock
        s.settimeout(timeout)
        try:
            return self.file.read(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        for x in (self.file, self.tls, self.sock):
            try:
                if x:
                    x.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def http_request(method, path, host, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def issuer_cn(cert):
    for rdn in cert.get("issuer", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def pem_subject_cn(pem_path):
    out = subprocess.run(["openssl", "x509", "-in", str(pem_path), "-noout", "-subject", "-nameopt",
                          "multiline"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"commonName\s*=\s*(.+)", out)
    return m.group(1).strip() if m else None


# --------------------------------------------------------------------------------------------
# the gateway process


class Gateway:
    def __init__(self, tmp: pathlib.Path, config_text: str, env_extra=None, leaks=None, serve_args=()):
        self.tmp = tmp
        self.serve_args = list(serve_args)
        self.config = tmp / "cloakroom.toml"
        self.config.write_text(config_text)
        self.audit_path = tmp / "audit.jsonl"
        self.data_dir = tmp / "data"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp / "home"),
            "XDG_CONFIG_HOME": str(tmp / "home" / "config"),
            "XDG_DATA_HOME": str(tmp / "home" / "data"),
            "LANG": "C.UTF-8",
            "MACAROON_SIGNING_KEY": CANARY_KEY_B64,
        }
        (tmp / "home").mkdir(exist_ok=True)
        if env_extra:
            self.env.update(env_extra)
        self.leaks = leaks  # LeakRecorder shared by the session
        self.stderr_lines = []
        self.stdout_chunks = []
        self.cond = threading.Condition()
        self.proc = None
        self.port = None
        self.reverse_port = None  # set when the config has reverse_listen (printed after "forward proxy")

    # -- lifecycle
    def start(self, timeout=10):
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
            while self.port is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self.cond.wait(min(left, 0.2))
        if self.port is None:
            self.stop()
            raise AssertionError(
                f"cloakroom serve did not print 'listening on ... (forward proxy)' within {timeout}s "
                f"(exit {self.proc.returncode}):\n{self.stderr_text()}"
            )
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        return self

    def _pump(self, stream, is_err):
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", "replace")
            with self.cond:
                if is_err:
                    self.stderr_lines.append(text)
                    m = LISTEN_RE.search(text)
                    if m and self.port is None:
                        self.port = int(m.group(1))
                    m = REVERSE_RE.search(text)
                    if m:
                        self.reverse_port = int(m.group(1))
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
        if self.leaks is not None:
            self.leaks.add(f"cloakroom serve stderr ({self.tmp.name})", self.stderr_text())
            self.leaks.add(f"cloakroom serve stdout ({self.tmp.name})", "".join(self.stdout_chunks))
            if self.audit_path.exists():
                self.leaks.add(f"audit log ({self.tmp.name})", self.audit_path.read_text(errors="replace"))
            self.leaks.add(f"config ({self.tmp.name})", self.config.read_text())

    def stderr_text(self):
        with self.cond:
            return "".join(self.stderr_lines)

    def wait_stderr(self, pattern, start=0, timeout=5):
        """Waits for a stderr line (from index `start`) matching `pattern`; returns it or None."""
        rx = re.compile(pattern, re.I)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.stderr_lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def reload(self, new_toml=None, wait_pattern=r"reload|config", timeout=3):
        """Rewrites the config (when given), sends SIGHUP, and waits for a log line about it."""
        if new_toml is not None:
            tmp = self.config.with_suffix(".new")
            tmp.write_text(new_toml)
            os.replace(tmp, self.config)
        with self.cond:
            start = len(self.stderr_lines)
        self.proc.send_signal(signal.SIGHUP)
        line = self.wait_stderr(wait_pattern, start=start, timeout=timeout)
        if line is None:
            time.sleep(0.5)  # no log line: give it a moment, the caller polls behaviour anyway
        return line

    # -- helpers
    @property
    def ca_path(self):
        return self.data_dir / "ca" / "ca.pem"

    def cli(self, *args, env=None, check=True):
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run([BIN, "--config", str(self.config), *args], env=e, capture_output=True,
                           text=True, timeout=60)
        if self.leaks is not None:
            self.leaks.add("cloakroom " + " ".join(args[:1]), p.stdout + p.stderr)
        if check:
            assert p.returncode == 0, f"cloakroom {' '.join(args)}: exit {p.returncode}\n{p.stderr}"
        return p

    def mint(self, hosts="api.example.com", methods=None, paths=None, valid_for="1h", not_before=None,
             key_b64=None):
        args = ["mint", "--hosts", hosts, "--valid-for", valid_for]
        if methods:
            args += ["--methods", methods]
        if paths:
            args += ["--paths", paths]
        if not_before is not None:
            args += ["--not-before", str(not_before)]
        env = {"MACAROON_SIGNING_KEY": key_b64} if key_b64 else None
        tok = self.cli(*args, env=env).stdout.strip()
        assert tok.startswith("acm_"), tok
        return tok

    def token_id(self, token):
        info = json.loads(self.cli("inspect", token).stdout)
        return info.get("token_id") or info.get("id") or info.get("nonce", {}).get("id")

    def audit(self):
        if not self.audit_path.exists():
            return []
        out = []
        text = self.audit_path.read_text()
        # Only whole lines: a record being written right now may be read half.
        for line in text[:text.rfind("\n") + 1].splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def wait_audit(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            recs = self.audit()
            if len(recs) >= n or time.monotonic() > deadline:
                return recs
            time.sleep(0.05)

    def client_env(self, **extra):
        e = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp / "home"),
            "LANG": "C.UTF-8",
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "HTTP_PROXY": self.proxy_url,
            "http_proxy": self.proxy_url,
            "NO_PROXY": "",
            "no_proxy": "",
        }
        e.update(extra)
        return e

    def tunnel(self, authority, connect_headers=()):
        return Tunnel(self, authority, connect_headers)

    def raw(self, host, request: bytes, connect_headers=(), method="GET", port=443):
        """CONNECT host:port, TLS (verified against Cloakroom's CA), send `request`, read one response."""
        t = Tunnel(self, f"{host}:{port}", connect_headers)
        try:
            if not t.ok:
                t.connect.stage = "connect"
                return t.connect
            t.start_tls(host, self.ca_path)
            r = t.response(method) if not request else t.request(request, method)
            r.stage = "request"
            r.tunnel_cert = t.cert
            return r
        finally:
            t.close()

    def get(self, host, path, headers=(), method="GET", body=b"", connect_headers=()):
        req = http_request(method, path, host, [*headers, ("Connection", "close")], body)
        return self.raw(host, req, connect_headers=connect_headers, method=method)

    def curl(self, *args, check=True, timeout=60):
        cmd = ["curl", "-sS", "--max-time", str(timeout - 5), "-x", self.proxy_url, "--cacert",
               str(self.ca_path), *args]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=self.client_env())
        if self.leaks is not None:
            self.leaks.add("curl " + " ".join(map(str, args))[:80], p.stdout.decode("utf-8", "replace")
                           + p.stderr.decode("utf-8", "replace"))
        if check:
            assert p.returncode == 0, f"curl {args}: exit {p.returncode}: {p.stderr.decode()}"
        return p

    def record(self, what, text):
        if self.leaks is not None:
            self.leaks.add(what, text if isinstance(text, str) else text.decode("utf-8", "replace"))


class GatewayFactory:
    def __init__(self, base, pki, nginx, pyup, leaks):
        self.base = base
        self.pki, self.nginx, self.pyup, self.leaks = pki, nginx, pyup, leaks
        self.started = []
        self.n = 0

    def config(self, tmp, **kw):
        return build_config(tmp, self.pki, self.nginx, self.pyup, **kw)

    def new_dir(self):
        self.n += 1
        tmp = self.base / f"gw{self.n}"
        tmp.mkdir()
        write_secrets(tmp / "secrets")
        return tmp

    def __call__(self, env_extra=None, config_text=None, serve_args=(), **kw):
        tmp = self.new_dir()
        text = config_text(tmp) if callable(config_text) else (config_text or self.config(tmp, **kw))
        gw = Gateway(tmp, text, env_extra=env_extra, leaks=self.leaks, serve_args=serve_args)
        gw.factory = self
        gw.build = lambda **kw2: self.config(tmp, **kw2)
        self.started.append(gw)
        return gw.start()

    def stop_all(self):
        for gw in self.started:
            gw.stop()


class LeakRecorder:
    """Collects every output a test run produced; at the end no secret may appear in any of them."""

    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def add(self, what, text):
        with self.lock:
            self.items.append((what, text or ""))

    def check(self, values):
        found = []
        with self.lock:
            for what, text in self.items:
                for name, value in values.items():
                    if value in text:
                        found.append(f"{name} appeared in {what}")
        return found


def error_body_ok(resp):
    """Cloakroom's own errors: JSON {error, reason} plus an X-Cloakroom-Error header."""
    assert "x-cloakroom-error" in resp.headers, f"no X-Cloakroom-Error header: {resp!r}"
    body = resp.json()
    assert "error" in body and "reason" in body, body
    return body
