"""Real upstream servers for the gateway end-to-end tests, all on loopback.

* `make_pki`     — a test CA and server certificates made with the openssl CLI (ECDSA P-256), plus a
                   certificate for the same names signed by a different ("rogue") CA.
* `NginxUpstream` — nginx with TLS from a temp prefix: an echo location (what the upstream received,
                   as JSON), static 1 KiB / 10 MiB files, and git smart HTTP (auth_basic + fcgiwrap +
                   git http-backend, push enabled); a second listener serves the rogue certificate.
* `PyUpstream`   — a threaded Python TLS server for what nginx cannot do: server-sent events paced by the
                   test, an upload endpoint returning sha256 + byte count, a slow endpoint, and a recorder
                   of every request line + headers it received.
"""
import base64
import hashlib
import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM_NAMES = [
    "api.example.com",
    "keys.example.com",
    "git.example.com",
    "query.example.com",
    "plain.example.com",
    "stream.example.com",
    "other.example.com",
    "noprivate.example.com",
    "ports.example.com",  # two services on one host, by port (test_gateway_hardening.py)
    "slow.example.com",  # a secret from a slow helper (test_gateway_front_ends.py)
    "ws.example.com", "wsnode.example.com",  # WebSocket servers (test_gateway_websocket.py)
    "grpc.example.com",  # a gRPC server (test_gateway_grpc.py)
    "h2only.example.com",  # nghttpd, an HTTP/2-only upstream (test_gateway_h2_upstream.py)
    # hosts that reload tests add to a running gateway
    "late.example.com", "late0.example.com", "late2.example.com", "late4.example.com",
    # a service on a name the host resolves (tests/e2e/transparent: literal-address destinations)
    "localhost",
]
ROGUE_NAMES = ["api.example.com", "rogue.example.com"]


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise OSError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class PKI:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.ca = root / "ca.pem"
        self.ca_key = root / "ca.key"
        self.rogue_ca = root / "rogue-ca.pem"
        self.cert = root / "upstream.pem"
        self.key = root / "upstream.key"
        self.rogue_cert = root / "rogue.pem"
        self.rogue_key = root / "rogue.key"


def _make_ca(d, name, cn):
    _openssl(
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "3", "-subj", f"/CN={cn}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )


def _make_leaf(d, name, ca, names):
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={names[0]}",
        cwd=d,
    )
    san = ",".join(f"DNS:{n}" for n in names)
    (d / f"{name}.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=d,
    )


def make_pki(root: pathlib.Path) -> PKI:
    root.mkdir(parents=True, exist_ok=True)
    _make_ca(root, "ca", "Cloakroom E2E Test Upstream CA")
    _make_ca(root, "rogue-ca", "Cloakroom E2E Rogue CA")
    _make_leaf(root, "upstream", "ca", UPSTREAM_NAMES)
    _make_leaf(root, "rogue", "rogue-ca", ROGUE_NAMES)
    return PKI(root)


def client_context(cafile, check_hostname=True):
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = check_hostname
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _stop_process(proc, sig=signal.SIGTERM, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# --------------------------------------------------------------------------------------------
# nginx + fcgiwrap + git http-backend


class NginxUpstream:
    """nginx on 127.0.0.1:<port> (test CA certificate) and 127.0.0.1:<rogue_port> (rogue CA)."""

    GIT_USER = "gitbot"

    def __init__(self, root: pathlib.Path, pki: PKI, secrets: dict):
        self.root = root
        self.pki = pki
        self.secrets = secrets  # bearer, x_api_key, query, git_password: the values to recognise
        self.port = free_port()
        self.rogue_port = free_port()
        self.nginx = None
        self.fcgiwrap = None
        self.files = {}

    # -- setup
    def _write_files(self):
        files = self.root / "files"
        files.mkdir()
        small = bytes(range(256)) * 4
        big = os.urandom(10 * 1024 * 1024)
        (files / "1k.bin").write_bytes(small)
        (files / "10m.bin").write_bytes(big)
        self.files = {
            "/files/1k.bin": (len(small), hashlib.sha256(small).hexdigest()),
            "/files/10m.bin": (len(big), hashlib.sha256(big).hexdigest()),
        }

    def _git(self, *args, cwd=None):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root / "githome"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "E2E",
            "GIT_AUTHOR_EMAIL": "e2e@example.com",
            "GIT_COMMITTER_NAME": "E2E",
            "GIT_COMMITTER_EMAIL": "e2e@example.com",
        }
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=60
        )

    def _make_repo(self):
        (self.root / "githome").mkdir()
        gitroot = self.root / "git"
        gitroot.mkdir()
        self.bare = gitroot / "repo.git"
        self._git("init", "-q", "--bare", "-b", "main", str(self.bare))
        self._git("config", "http.receivepack", "true", cwd=self.bare)
        seed = self.root / "seed"
        self._git("init", "-q", "-b", "main", str(seed))
        (seed / "README.md").write_text("hello from the e2e git upstream\n")
        self._git("add", "README.md", cwd=seed)
        self._git("commit", "-q", "-m", "seed", cwd=seed)
        self._git("push", "-q", str(self.bare), "main", cwd=seed)
        self.seed_head = self._git("rev-parse", "HEAD", cwd=seed).stdout.strip()

    def bare_log(self):
        return self._git("--git-dir", str(self.bare), "log", "--format=%H %s", "main").stdout

    def _htpasswd(self):
        hashed = subprocess.run(
            ["openssl", "passwd", "-apr1", self.secrets["git_password"]],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout.strip()
        (self.root / "htpasswd").write_text(f"{self.GIT_USER}:{hashed}\n")

    def _conf(self):
        d = self.root
        s = self.secrets
        basic = base64.b64encode(f"{self.GIT_USER}:{s['git_password']}".encode()).decode()
        user = "user root;" if os.geteuid() == 0 else ""
        # Every path not matched below echoes what the upstream received. $auth_check & co tell the
        # test whether the real credential arrived, without the response having to carry it.
        echo = (
            "'{"
            '"method":"$request_method","request_uri":"$request_uri","uri":"$uri","args":"$args",'
            '"host":"$host","authorization":"$http_authorization","auth_check":"$auth_check",'
            '"x_api_key":"$http_x_api_key","xkey_check":"$xkey_check","query_check":"$query_check",'
            '"proxy_authorization":"$http_proxy_authorization","cookie":"$http_cookie",'
            '"content_length":"$http_content_length","transfer_encoding":"$http_transfer_encoding",'
            '"user_agent":"$http_user_agent","x_test":"$http_x_test"'
            "}\n'"
        )
        return f"""
worker_processes 1;
{user}
error_log {d}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format cr '$remote_addr "$request_method $uri" $status $body_bytes_sent "$http_host" "$http_user_agent"';
    access_log {d}/access.log cr;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    keepalive_requests 100000;
    server_tokens off;
    map_hash_bucket_size 256;
    map $http_authorization $auth_check {{
        "Bearer {s['bearer']}" "bearer-ok";
        "Basic {basic}" "basic-ok";
        "" "none";
        default "other";
    }}
    map $http_x_api_key $xkey_check {{ "{s['x_api_key']}" "ok"; "" "none"; default "other"; }}
    map $arg_key $query_check {{ "{s['query']}" "ok"; "" "none"; default "other"; }}
    server {{
        listen 127.0.0.1:{self.port} ssl default_server;
        server_name _;
        ssl_certificate {self.pki.cert};
        ssl_certificate_key {self.pki.key};
        client_max_body_size 0;
        location / {{
            default_type application/json;
            add_header X-Echo-Authorization $http_authorization always;
            add_header X-Echo-Api-Key $http_x_api_key always;
            return 200 {echo};
        }}
        location /files/ {{
            alias {d}/files/;
        }}
        location ~ ^/repo\\.git(/.*)?$ {{
            auth_basic "git";
            auth_basic_user_file {d}/htpasswd;
            fastcgi_pass unix:{d}/fcgiwrap.sock;
            fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
            fastcgi_param GIT_PROJECT_ROOT {d}/git;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param QUERY_STRING $args;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param HTTP_GIT_PROTOCOL $http_git_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_read_timeout 60s;
            client_max_body_size 0;
        }}
    }}
    server {{
        listen 127.0.0.1:{self.rogue_port} ssl default_server;
        server_name _;
        ssl_certificate {self.pki.rogue_cert};
        ssl_certificate_key {self.pki.rogue_key};
        location / {{
            default_type application/json;
            return 200 '{{"rogue":true,"authorization":"$http_authorization","auth_check":"$auth_check"}}\\n';
        }}
    }}
}}
"""

    def start(self):
        d = self.root
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self._write_files()
        self._make_repo()
        self._htpasswd()
        conf = d / "nginx.conf"
        conf.write_text(self._conf())
        fcgi_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(d / "githome")}
        self.fcgiwrap_log = open(d / "fcgiwrap.log", "wb")
        self.fcgiwrap = subprocess.Popen(
            ["fcgiwrap", "-c", "4", "-s", f"unix:{d}/fcgiwrap.sock"],
            env=fcgi_env, stdout=self.fcgiwrap_log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its prefork children are stopped with the whole group
        )
        deadline = time.monotonic() + 10
        while not (d / "fcgiwrap.sock").exists():
            assert self.fcgiwrap.poll() is None, "fcgiwrap exited"
            assert time.monotonic() < deadline, "fcgiwrap did not create its socket"
            time.sleep(0.05)
        self.nginx_log = open(d / "nginx.stderr", "wb")
        self.nginx = subprocess.Popen(
            ["nginx", "-p", str(d), "-c", str(conf), "-e", f"{d}/error.log",
             "-g", f"daemon off; pid {d}/nginx.pid;"],
            stdout=self.nginx_log, stderr=subprocess.STDOUT,
        )
        try:
            wait_port(self.port, proc=self.nginx)
            wait_port(self.rogue_port, proc=self.nginx)
        except OSError:
            self.stop()
            raise AssertionError("nginx did not start:\n" + self.logs())
        return self

    def stop(self):
        _stop_process(self.nginx, signal.SIGQUIT)
        if self.fcgiwrap is not None:
            try:
                os.killpg(self.fcgiwrap.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            _stop_process(self.fcgiwrap)
        for f in ("nginx_log", "fcgiwrap_log"):
            if getattr(self, f, None):
                getattr(self, f).close()

    def logs(self):
        out = []
        for name in ("nginx.stderr", "error.log", "access.log", "fcgiwrap.log"):
            p = self.root / name
            if p.exists():
                out.append(p.read_text(errors="replace"))
        return "\n".join(out)

    def access_log(self):
        p = self.root / "access.log"
        return p.read_text(errors="replace") if p.exists() else ""


# --------------------------------------------------------------------------------------------
# Python TLS upstream


_BENCH_BODIES = {}


def _bench_body(gz):
    """10 MB of JSON lines (and its gzip), made once."""
    if gz not in _BENCH_BODIES:
        import gzip
        lines, n = [], 1
        size = 0
        while size < 10 * 1024 * 1024:
            n = (n * 1103515245 + 12345) % (1 << 32)
            line = (f'{{"id":"cus_{n}","object":"customer","email":"someone@example.com",'
                    f'"balance":{n % 100000},"currency":"usd","livemode":false}},\n')
            lines.append(line)
            size += len(line)
        plain = "".join(lines).encode()[:10 * 1024 * 1024]
        _BENCH_BODIES[gz] = gzip.compress(plain, 6) if gz else plain
    return _BENCH_BODIES[gz]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-py-upstream"

    def log_message(self, fmt, *args):  # quiet; the recorder keeps what matters
        pass

    def _record(self):
        entry = {
            "requestline": self.requestline,
            "headers": [(k, v) for k, v in self.headers.items()],
            "time": time.time(),
        }
        with self.server.lock:
            self.server.records.append(entry)
        return entry

    def _send_json(self, code, obj, extra_headers=()):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self):
        """Returns (sha256 hex, byte count, framing) of the request body, reading it as it streams."""
        h = hashlib.sha256()
        n = 0
        self.request_trailers = []
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            framing = "chunked"
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers, kept for /upload's answer
                    while (line := self.rfile.readline(1024)) not in (b"\r\n", b"\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        self.request_trailers.append([name.strip().lower(), value.strip()])
                    break
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    if not chunk:
                        raise ConnectionError("short chunk")
                    h.update(chunk)
                    n += len(chunk)
                    remaining -= len(chunk)
                self.rfile.readline(16)
        else:
            framing = "content-length"
            remaining = int(self.headers.get("Content-Length", "0"))
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    raise ConnectionError("short body")
                h.update(chunk)
                n += len(chunk)
                remaining -= len(chunk)
        return h.hexdigest(), n, framing

    def _dispatch(self):
        entry = self._record()
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/upload":
            digest, n, framing = self._read_body()
            answer = {"sha256": digest, "bytes": n, "framing": framing}
            if self.request_trailers:  # only then: other tests compare the whole answer
                answer["trailers"] = self.request_trailers
            return self._send_json(200, answer)
        if self.command in ("POST", "PUT", "PATCH") and (
            "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
        ):
            self._read_body()
        if url.path == "/sse":
            return self._sse(query.get("id", "default"))
        if url.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":  # the head a GET would get, no body (RFC 9110 §9.3.2)
                self.wfile.flush()
                return
            for i in range(int(query.get("n", "5"))):
                data = f"part-{i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if url.path == "/extra" and query.get("together"):
            # The same, in one write: the stray bytes arrive in the same TLS record as the body.
            body = json.dumps({"first": True}).encode() + b"\n"
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                             + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
            self.wfile.flush()
            return
        if url.path == "/extra":  # a broken upstream: a second, unasked-for response follows
            self._send_json(200, {"first": True})
            time.sleep(int(query.get("delay_ms", "0")) / 1000)  # after the gateway has read it
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
            self.wfile.flush()
            return
        if url.path in ("/until-close", "/short"):
            # /until-close: no framing, the body ends with the connection (RFC 9112 §6.3 item 8).
            # /short: a Content-Length the upstream does not keep before closing.
            n = int(query.get("n", "100000"))
            if url.path == "/until-close":
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                body = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
            else:
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (n + 1000)
                body = b"y" * n
            self.wfile.write(head + body)
            self.wfile.flush()
            self.close_connection = True
            try:  # close_notify first: a clean end of the stream, not a truncation
                self.connection.settimeout(0.5)
                self.connection.unwrap()
            except (OSError, ValueError):
                pass
            return
        if url.path == "/malformed":
            # A broken upstream that quotes the credential it received in a malformed head: the
            # gateway's 502 reason must not quote it back (tests/e2e/gateway/test_gateway_hardening.py).
            auth = self.headers.get("Authorization", "none")
            secret = auth.split(" ", 1)[-1]
            lines = {
                "no-colon": f"HTTP/1.1 200 OK\r\nX-Echo {auth}\r\n",
                "bare-secret": f"HTTP/1.1 200 OK\r\n{secret}\r\n",
                "content-length": f"HTTP/1.1 200 OK\r\nContent-Length: {secret}\r\n",
                "content-length-list": f"HTTP/1.1 200 OK\r\nContent-Length: 5, {secret}\r\n",
                "transfer-encoding": f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {secret}\r\n",
                "connection": f"HTTP/1.1 200 OK\r\nConnection: {auth}\r\n",
                "name": f"HTTP/1.1 200 OK\r\nX-{secret}(: 1\r\n",
                "name-space": f"HTTP/1.1 200 OK\r\n{secret} : 1\r\n",
                "value-control": f"HTTP/1.1 200 OK\r\nX-Echo: {auth}\x01\r\n",
                "fold": f"HTTP/1.1 200 OK\r\nX-{secret}: 1\r\n {auth}\r\n",
                "status": f"HTTP/1.1 {auth}\r\n",
                "version": f"{secret} 200 OK\r\n",
                "reason-control": f"HTTP/1.1 200 {auth}\x01\r\n",
                "bare-lf": f"HTTP/1.1 200 OK\r\nX-Echo: {auth}\n",
            }
            head = lines.get(query.get("kind", ""), "HTTP/1.1 200 OK\r\n") + "Content-Length: 0\r\n\r\n"
            self.wfile.write(head.encode("latin-1"))
            self.wfile.flush()
            self.close_connection = True
            return
        if url.path == "/echo-head":
            # A well-formed response that echoes the Authorization it received into every part of
            # its head: the reason phrase, a field name and a field value, and the body
            # (tests/e2e/gateway/test_gateway_front_ends.py: all of it must be redacted).
            auth = self.headers.get("Authorization", "none")
            secret = auth.split(" ", 1)[-1]
            body = (json.dumps({"authorization": auth}) + "\n").encode()
            head = (f"HTTP/1.1 200 Echo {secret}\r\nX-{secret}: 1\r\nX-Echo: {auth}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            self.wfile.write(head.encode("latin-1") + body)
            self.wfile.flush()
            return
        if url.path == "/trailers":
            # A chunked response whose trailers carry a status (as gRPC does) and echo the
            # Authorization it received (tests/e2e/gateway/test_gateway_h2.py: redacted there too).
            auth = self.headers.get("Authorization", "none")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "Grpc-Status, X-Echo-Auth")
            self.end_headers()
            data = f"body echoes {auth}\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n" % (len(data), data))
            self.wfile.write(f"Grpc-Status: 0\r\nX-Echo-Auth: {auth}\r\n\r\n".encode("latin-1"))
            self.wfile.flush()
            return
        if url.path == "/bench-body":
            # 10 MB of JSON lines, gzip-encoded with gz=1 (bench/redaction_e2e.py).
            body = _bench_body(bool(query.get("gz")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if query.get("gz"):
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if url.path.startswith("/redact/"):
            return self._redact_echo(url.path[len("/redact/"):], query)
        if url.path == "/bytes":
            # n bytes of a known pattern, Content-Length framed (large responses over HTTP/2).
            n = int(query.get("n", "100000"))
            body = (bytes(range(256)) * (n // 256 + 1))[:n]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return
        if url.path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            return self._send_json(200, {"slow": True})
        # default: echo what was received
        return self._send_json(200, entry)

    def _redact_echo(self, form, query):
        """Echoes the Authorization it received in the form an upstream really uses
        (tests/e2e/gateway/test_gateway_redaction.py; every form must reach the client starred).
        Compressed forms are sent whatever Accept-Encoding said (an upstream that ignores it);
        the Accept-Encoding received is echoed in X-Seen-Accept-Encoding."""
        import gzip
        import zlib
        auth = self.headers.get("Authorization", "none")
        secret = auth.split(" ", 1)[-1]
        at = int(query.get("at", "0"))
        extra = [("X-Seen-Accept-Encoding", self.headers.get("Accept-Encoding", "(none)"))]
        if self.command == "HEAD":
            self.close_connection = True
        plain = (json.dumps({"authorization": auth, "pad": "x" * 64}) + "\n").encode()
        body, ctype = plain, "application/json"
        if form in ("gzip", "deflate", "rawdeflate", "br", "zstd", "gzip-bomb", "unknown",
                    "gzip-corrupt", "gzip-range", "gzip-304"):
            coding = {"rawdeflate": "deflate", "gzip-bomb": "gzip", "gzip-corrupt": "gzip",
                      "gzip-range": "gzip", "gzip-304": "gzip",
                      "unknown": "x-compress-cloak"}.get(form, form)
            if form in ("gzip", "gzip-range", "gzip-304"):
                body = gzip.compress(plain)
            elif form == "deflate":
                body = zlib.compress(plain)
            elif form == "rawdeflate":
                c = zlib.compressobj(wbits=-15)
                body = c.compress(plain) + c.flush()
            elif form == "br":
                import brotli
                body = brotli.compress(plain)
            elif form == "zstd":
                import zstandard
                body = zstandard.ZstdCompressor().compress(plain)
            elif form == "gzip-bomb":
                # 64 MiB of zeros after the echo: far past 200x its compressed size
                c = zlib.compressobj(wbits=31)
                body = c.compress(plain)
                zeros = bytes(1 << 20)
                for _ in range(64):
                    body += c.compress(zeros)
                body += c.flush()
            elif form == "gzip-corrupt":
                body = gzip.compress(plain)[:-12] + b"garbage-----"
            else:
                body = plain
            status = {"gzip-range": 206, "gzip-304": 304}.get(form, 200)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Encoding", coding)
            self.send_header("ETag", '"v1"')
            if status == 206:
                self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD" and status != 304:
                self.wfile.write(body)
            return
        if form == "chunked":
            # The secret split across two chunks at offset `at` (and each chunk flushed apart, so
            # the split is also a TLS-record boundary).
            body = b"head-" + secret.encode() + b"-tail\n"
            cut = 5 + at
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:cut], body[cut:]):
                if part:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    time.sleep(0.005)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if form == "trailer":
            # Encoded echoes in the trailers of a chunked response (HTTP/2 trailers downstream).
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Echo-B64, X-Echo-Pct")
            self.end_headers()
            self.wfile.write(b"2\r\nok\r\n0\r\n")
            b64 = base64.b64encode(b"ctx:" + secret.encode()).decode()
            pct = urllib.parse.quote(auth, safe="")
            self.wfile.write(f"X-Echo-B64: {b64}\r\nX-Echo-Pct: {pct}\r\n\r\n".encode())
            self.wfile.flush()
            return
        if form == "base64":
            # The secret inside a larger blob at byte offset `at`, base64 (URL-safe with url=1).
            blob = json.dumps({"p": "x" * at, "k": secret}).encode()
            enc = base64.urlsafe_b64encode(blob) if query.get("url") else base64.b64encode(blob)
            basic = base64.b64encode(f"agent:{secret}".encode())
            body = b'{"blob":"' + enc + b'","basic":"' + basic + b'"}\n'
        elif form == "json":
            # PHP (\/), Python ensure_ascii, Go's HTML-safe escapes, and every character escaped.
            forms = [json.dumps(auth).replace("/", "\\/"), json.dumps(auth, ensure_ascii=True),
                     json.dumps(auth).replace("<", "\\u003c").replace("&", "\\u0026"),
                     '"' + "".join(c if c.isalnum() else "\\u%04x" % ord(c) for c in secret) + '"']
            body = ("[" + ",".join(forms) + "]\n").encode()
        elif form == "hex":
            body = (secret.encode().hex() + "\n" + secret.encode().hex().upper() + "\n").encode()
        elif form == "percent":
            body = (urllib.parse.quote(auth, safe="") + "\n" + urllib.parse.quote_plus(auth)
                    + "\n").encode()
        elif form == "location":
            self.send_response(302)
            self.send_header("Location", "https://cb.example/done?token="
                             + urllib.parse.quote(secret, safe="") + "&b="
                             + base64.urlsafe_b64encode(f"x{secret}".encode()).decode())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif form == "sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            data = base64.b64encode(b"ctx" + secret.encode())
            for piece in (b"data: " + data[:7], data[7:20], data[20:] + b"\n\n", b"data: end\n\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.005)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _sse(self, sid):
        gate = self.server.gate(sid)
        state = self.server.sse_state.setdefault(sid, {})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data: bytes):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        # Recorded before the write: a fast gateway delivers the event before this thread runs again.
        state["sent1"] = time.time()
        chunk(b"id: 1\ndata: event-one\n\n")
        released = gate.wait(timeout=15)
        state["released"] = released
        state["sent2"] = time.time()
        chunk(b"id: 2\ndata: event-two\n\n")
        time.sleep(0.05)
        chunk(b"id: 3\ndata: event-three\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx):
        super().__init__(addr, _Handler)
        self.ctx = ctx
        self.lock = threading.Lock()
        self.records = []
        self.gates = {}
        self.sse_state = {}

    def gate(self, sid):
        with self.lock:
            return self.gates.setdefault(sid, threading.Event())

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


class PyUpstream:
    def __init__(self, pki: PKI, host="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki.cert), str(pki.key))
        ctx.set_alpn_protocols(["http/1.1"])
        self.server = _Server((host, 0), ctx)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # recorder
    def records(self):
        with self.server.lock:
            return list(self.server.records)

    def clear(self):
        with self.server.lock:
            self.server.records.clear()

    def release(self, sid):
        self.server.gate(sid).set()

    def sse_state(self, sid):
        return self.server.sse_state.get(sid, {})
