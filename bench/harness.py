#!/usr/bin/env python3
"""bench/run's driver: Cloakroom against direct access, nginx, haproxy and mitmproxy (bench/README.md).

Everything listens on 127.0.0.1 (free ports), lives in one temporary directory and is stopped at
exit, whatever the exit. Loads come from cloakroom_loadgen (bench/loadgen), the same client for
every candidate; CPU and RSS of the proxy processes are read from /proc by the load generator at
the edges of each measured window.
"""
import argparse
import atexit
import datetime
import json
import os
import pathlib
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOST = "api.example.com"
SECRET = "sk_bench_7f3a9c1e5b2d4680_real_credential"
SIGNING_KEY_B64 = "YmVuY2gtc2lnbmluZy1rZXktMDEyMzQ1Njc4OWFiY2RlZiE="  # 35 bytes
SMALL = 1024
BIG = 100 * 1024

PROCS = []  # every process we started: (name, Popen), stopped at exit


# ----------------------------------------------------------------------------------------------
# helpers


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20.0, what="server"):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")
            time.sleep(0.05)


def spawn(name, argv, log_path, env=None, cwd=None):
    out = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            env=env, cwd=cwd, start_new_session=True)
    out.close()
    PROCS.append((name, proc))
    return proc


def stop(proc, sig=signal.SIGTERM, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)


def stop_all():
    for _, proc in reversed(PROCS):
        stop(proc)
    PROCS.clear()


def children(pid):
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: pathlib.Path):
    """Bench CA, the upstream's certificate, and the certificate the reverse proxies present."""
    d.mkdir()
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=Cloakroom Bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name in ("upstream", "front"):
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={HOST}", cwd=d)
        (d / f"{name}.ext").write_text(
            f"subjectAltName=DNS:{HOST},IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
                cwd=d)
        (d / f"{name}-combined.pem").write_text((d / f"{name}.pem").read_text() +
                                                (d / f"{name}.key").read_text())
    # mitmproxy mints its leaves from a CA in its confdir: give it the bench CA.
    (d / "mitm").mkdir()
    (d / "mitm" / "mitmproxy-ca.pem").write_text((d / "ca.key").read_text() + (d / "ca.pem").read_text())
    (d / "mitm" / "mitmproxy-ca-cert.pem").write_text((d / "ca.pem").read_text())
    return d


def user_directive():
    return "user root;" if os.geteuid() == 0 else ""


# ----------------------------------------------------------------------------------------------
# the upstream: nginx with TLS, /1k and /100k, and X-Auth-Check telling whether the real
# credential arrived (without echoing it)


class Upstream:
    def __init__(self, work: pathlib.Path, pki: pathlib.Path):
        self.dir = work / "upstream"
        self.pki = pki
        self.port = None
        self.h2_port = None  # the same server with ALPN h2, for the "direct" h2 shape only
        self.proc = None

    def setup(self):
        d = self.dir
        for sub in ("files", "tmp", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "files" / "1k").write_bytes(bytes(range(256)) * (SMALL // 256))
        rnd = random.Random(5)
        (d / "files" / "100k").write_bytes(bytes(rnd.getrandbits(8) for _ in range(BIG)))
        return self

    def start(self):
        d = self.dir
        self.port = free_port()
        self.h2_port = free_port()
        (d / "nginx.conf").write_text(f"""
worker_processes 1;
{user_directive()}
worker_rlimit_nofile 40000;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server_tokens off;
    map_hash_bucket_size 256;
    map $http_authorization $auth_check {{
        "Bearer {SECRET}" "bearer-ok";
        "" "none";
        default "other";
    }}
    server {{
        listen 127.0.0.1:{self.port} ssl default_server backlog=8192;
        # HTTP/2 only on a port of its own: the proxies' upstream legs stay HTTP/1.1 (Cloakroom
        # would pick h2 where offered, nginx cannot), so every candidate does the same job.
        listen 127.0.0.1:{self.h2_port} ssl http2 backlog=8192;
        server_name _;
        ssl_certificate {self.pki}/upstream.pem;
        ssl_certificate_key {self.pki}/upstream.key;
        # nginx 1.22 (Debian 12) offers only up to TLS 1.2 unless told: every hop is TLS 1.3.
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            root {d}/files;
            add_header X-Auth-Check $auth_check always;
        }}
    }}
}}
""")
        self.proc = spawn("upstream-nginx", ["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-e",
                                             f"{d}/error.log", "-g", "daemon off;"],
                          d / "nginx.stdout")
        wait_port(self.port, self.proc, what="upstream nginx")
        return self

    def stop(self):
        stop(self.proc, signal.SIGQUIT)

    def pids(self):
        return [self.proc.pid, *children(self.proc.pid)]

    def file(self, name):
        return self.dir / "files" / name


# ----------------------------------------------------------------------------------------------
# candidates


class Candidate:
    name = "?"
    note = ""
    proc = None

    def __init__(self, work, pki, upstream, tools):
        self.work = work
        self.pki = pki
        self.upstream = upstream
        self.tools = tools
        self.dir = work / self.name
        self.dir.mkdir(exist_ok=True)
        self.port = None

    def available(self):
        return None  # or the reason it is not

    def start(self):
        raise NotImplementedError

    def stop(self):
        stop(self.proc)
        self.proc = None

    def fresh(self):
        """A newly started process (for the idle-memory test), nothing else of ours running in it."""
        self.stop()
        self.start()

    def pids(self):
        return [self.proc.pid] if self.proc else []

    # How the load generator reaches `path` through this candidate.
    def target(self, path):
        return ["--url", f"https://{HOST}{path}", "--dial", f"127.0.0.1:{self.port}",
                "--cacert", str(self.pki / "ca.pem")]

    # Whether the agent side speaks HTTP/2 (the "h2" shape), and how the client reaches it.
    h2 = True

    def h2_target(self, path):
        return self.target(path)

    # What the agent sends: its Cloakroom token (the proxies replace it with the real secret).
    def auth_header(self):
        return f"Authorization: Bearer {self.tools['token']}"


class Direct(Candidate):
    name = "direct"
    note = "client -> upstream nginx with the real secret; CPU/RSS columns are the upstream's"

    def start(self):
        self.port = self.upstream.port

    def stop(self):
        pass

    def fresh(self):
        # The upstream itself; runs first (candidate order), before the proxies dial it.
        self.upstream.stop()
        self.upstream.start()
        self.port = self.upstream.port

    def pids(self):
        return self.upstream.pids()

    def auth_header(self):
        return f"Authorization: Bearer {SECRET}"

    def h2_target(self, path):
        return ["--url", f"https://{HOST}{path}", "--dial", f"127.0.0.1:{self.upstream.h2_port}",
                "--cacert", str(self.pki / "ca.pem")]


class Cloakroom(Candidate):
    name = "cloakroom"
    note = "forward proxy: CONNECT, TLS with a minted leaf, token verify, inject, audit line"
    LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(forward proxy\)")
    REVERSE_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(reverse base URL")

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.reverse_port = None
        self.try_reverse = True  # a reverse base-URL listener when the binary has one
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir / "home"),
            "XDG_CONFIG_HOME": str(self.dir / "home" / "config"),
            "XDG_DATA_HOME": str(self.dir / "home" / "data"),
            "XDG_STATE_HOME": str(self.dir / "home" / "state"),
            "LANG": "C.UTF-8",
            "MACAROON_SIGNING_KEY": SIGNING_KEY_B64,
        }
        (self.dir / "home").mkdir(exist_ok=True)
        secrets = self.dir / "secrets"
        secrets.mkdir(mode=0o700, exist_ok=True)
        os.chmod(secrets, 0o700)
        (secrets / "api.key").write_text(SECRET + "\n")
        os.chmod(secrets / "api.key", 0o600)

    def config_text(self, reverse):
        d = self.dir
        q = json.dumps
        return f"""# written by bench/harness.py
[gateway]
listen = "127.0.0.1:0"
{'reverse_listen = "127.0.0.1:0"' if reverse else ''}
audit_log = {q(str(d / "audit.jsonl"))}
data_dir = {q(str(d / "data"))}

[token]
key_dir = {q(str(d / "keys"))}

[secrets]
dir = {q(str(d / "secrets"))}

[[service]]
name = "api"
hosts = [{q(HOST)}]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {q(f"127.0.0.1:{self.upstream.port}")}
upstream_ca = {q(str(self.pki / "ca.pem"))}
allow_private = true
"""

    def _start(self, reverse):
        cfg = self.dir / "cloakroom.toml"
        cfg.write_text(self.config_text(reverse))
        logf = self.dir / "serve.log"
        logf.write_bytes(b"")
        # CLOAKROOM_BENCH_WRAP="heaptrack -o /tmp/ht" (or valgrind ...) runs the proxy under a
        # profiler; the figures of such a run are the profiler's, not Cloakroom's.
        wrap = os.environ.get("CLOAKROOM_BENCH_WRAP", "").split()
        self.proc = spawn("cloakroom",
                          [*wrap, self.tools["cloakroom"], "--config", str(cfg), "serve", *os.environ.get("CLOAKROOM_BENCH_SERVE_ARGS", "").split()],
                          logf, env=self.env)
        # A profiler (valgrind) makes the start-up many times slower.
        deadline = time.monotonic() + (180 if wrap else 15)
        forward_seen = None
        while time.monotonic() < deadline:
            text = logf.read_text(errors="replace")
            m = self.LISTEN_RE.search(text)
            r = self.REVERSE_RE.search(text)
            if m and forward_seen is None:
                forward_seen = time.monotonic()
            # The reverse line may come before or after the forward one; 2 s without it after the
            # forward one means this build has no reverse listener.
            if m and (not reverse or r or time.monotonic() - forward_seen > 2):
                self.port = int(m.group(1))
                self.reverse_port = int(r.group(1)) if r else None
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def start(self):
        if self.try_reverse:
            if self._start(True):
                return
            # A build without reverse_listen rejects the key: run the forward proxy alone.
            self.stop()
            self.try_reverse = False
        if not self._start(False):
            raise RuntimeError("cloakroom serve did not start:\n" +
                               (self.dir / "serve.log").read_text(errors="replace")[-3000:])

    def mint(self):
        cfg = self.dir / "cloakroom.toml"
        p = subprocess.run([self.tools["cloakroom"], "--config", str(cfg), "mint", "--hosts", HOST,
                            "--valid-for", "1h"], env=self.env, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0 or not p.stdout.strip().startswith("acm_"):
            raise RuntimeError(f"cloakroom mint failed: {p.stderr}")
        return p.stdout.strip()

    def target(self, path):
        return ["--url", f"https://{HOST}{path}", "--proxy", f"127.0.0.1:{self.port}",
                "--cacert", str(self.dir / "data" / "ca" / "ca.pem")]


class CloakroomLimits(Cloakroom):
    """Cloakroom with every limit on and a revocation list to consult (issue #16's cost check).

    The same service as `cloakroom`, plus global and per-service rate, concurrency and budget
    limits set so high that none ever refuses (each request still goes through every scope's
    bucket, slot and budget count), and REVOKED revoked token ids in <data_dir>/revocations
    (the request's token is not among them, so every request is looked up and admitted)."""
    name = "cloakroom-limits"
    note = ("cloakroom + global/service/per-token rate, concurrency and budget limits (never hit) "
            f"+ revoked ids in the list")
    REVOKED = 3000
    # Limits the bench never reaches (counts go up to 10^9), yet every one of them is checked.
    SERVICE_LIMITS = ('rate = "1000000000/s"\nconcurrency = 1000000\ntoken_rate = "1000000000/s"\n'
                      'token_concurrency = 1000000\ntoken_budget = 1000000000\n')
    GLOBAL_LIMITS = ('\n[limits]\nrate = "1000000000/s"\nconcurrency = 1000000\n'
                     'token_rate = "1000000000/s"\ntoken_concurrency = 1000000\n'
                     'token_budget = 1000000000\n')

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.try_reverse = False  # the forward proxy is the comparison
        data = self.dir / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        rnd = random.Random(16)
        now = int(time.time())
        lines = [json.dumps({"revoked_at": now - i, "token_id": f"{rnd.getrandbits(128):032x}",
                             "reason": "bench"}, separators=(",", ":")) + "\n"
                 for i in range(self.REVOKED)]
        (data / "revocations").write_text("".join(lines))
        os.chmod(data / "revocations", 0o600)

    def extra_config(self):
        return ""

    def config_text(self, reverse):
        return super().config_text(reverse) + self.SERVICE_LIMITS + self.GLOBAL_LIMITS + self.extra_config()


class CloakroomFleet(CloakroomLimits):
    """cloakroom-limits in fleet mode: revocations and budgets shared through a redis-server the
    harness starts on loopback (no persistence). Its CPU column includes redis-server's."""
    name = "cloakroom-fleet"
    note = "cloakroom-limits + [fleet] on a loopback redis-server (CPU includes redis-server's)"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.redis = None
        self.redis_port = None

    def available(self):
        return None if shutil.which("redis-server") else "redis-server not installed"

    def extra_config(self):
        return (f'\n[fleet]\nredis = "redis://127.0.0.1:{self.redis_port}"\n'
                f'instance = "bench"\nmax_staleness = "5s"\n')

    def start(self):
        if self.redis is None or self.redis.poll() is not None:
            self.redis_port = free_port()
            rdir = self.dir / "redis"
            rdir.mkdir(exist_ok=True)
            self.redis = spawn("redis-server", [
                shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(self.redis_port),
                "--save", "", "--appendonly", "no", "--dir", str(rdir), "--protected-mode", "yes"],
                rdir / "redis.log")
            wait_port(self.redis_port, self.redis, what="redis-server")
        super().start()
        # Synced with Redis before it is measured (a gateway is stale until its first round).
        deadline = time.monotonic() + 10
        while "(synced)" not in (self.dir / "serve.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("cloakroom-fleet did not sync with redis-server:\n" +
                                   (self.dir / "serve.log").read_text(errors="replace")[-3000:])
            time.sleep(0.05)

    def stop(self):
        super().stop()

    def pids(self):
        return super().pids() + ([self.redis.pid] if self.redis and self.redis.poll() is None else [])


class CloakroomReverse(Candidate):
    """Cloakroom's reverse base-URL listener (plain HTTP on loopback: http://127.0.0.1:P/api/...).

    Shares the `cloakroom` candidate's process; measured only when that binary prints a reverse
    listener line (the listener is new: builds without it skip this candidate)."""
    name = "cloakroom-reverse"
    note = "reverse base URL, plain HTTP client hop (not TLS): compare with care"

    def __init__(self, *a, forward=None, **kw):
        super().__init__(*a, **kw)
        self.forward = forward

    def available(self):
        if self.forward is None or self.forward.proc is None:
            return "needs the cloakroom candidate running"
        if self.forward.reverse_port is None:
            return "this cloakroom build has no reverse base-URL listener (reverse_listen)"
        return None

    def start(self):
        if self.forward.proc is None:
            self.forward.start()
        self.port = self.forward.reverse_port

    def stop(self):
        self.forward.stop()

    def fresh(self):
        self.forward.fresh()
        self.port = self.forward.reverse_port

    def pids(self):
        return self.forward.pids()

    def target(self, path):
        return ["--url", f"http://127.0.0.1:{self.port}/api{path}", "--dial",
                f"127.0.0.1:{self.port}"]

    h2 = False  # plain HTTP/1.1 on loopback


class NginxProxy(Candidate):
    name = "nginx"
    note = "reverse proxy: TLS, proxy_set_header Authorization, keepalive upstream pool, access_log"

    def start(self):
        d = self.dir
        for sub in ("tmp",):
            (d / sub).mkdir(exist_ok=True)
        self.port = free_port()
        (d / "nginx.conf").write_text(f"""
worker_processes 2;
{user_directive()}
worker_rlimit_nofile 40000;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 20000; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server_tokens off;
    upstream api {{
        server 127.0.0.1:{self.upstream.port};
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen 127.0.0.1:{self.port} ssl http2 backlog=8192;
        ssl_certificate {self.pki}/front.pem;
        ssl_certificate_key {self.pki}/front.key;
        # Same job as Cloakroom: TLS 1.3 to the client (nginx 1.22's default stops at 1.2), no
        # resumption (the client never resumes; Cloakroom issues no tickets).
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        location / {{
            proxy_pass https://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {HOST};
            proxy_set_header Authorization "Bearer {SECRET}";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {self.pki}/ca.pem;
            proxy_ssl_name {HOST};
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
            proxy_buffers 8 16k;
            proxy_buffer_size 16k;
            proxy_max_temp_file_size 0;
        }}
    }}
}}
""")
        # CLOAKROOM_BENCH_WRAP_NGINX="valgrind --tool=callgrind ..." profiles the nginx proxy the
        # same way (one process: master_process off, so the profiler sees the worker's requests).
        wrap = os.environ.get("CLOAKROOM_BENCH_WRAP_NGINX", "").split()
        globals_ = "daemon off;" + (" master_process off;" if wrap else "")
        self.proc = spawn("nginx-proxy", [*wrap, "nginx", "-p", str(d), "-c", str(d / "nginx.conf"),
                                          "-e", f"{d}/error.log", "-g", globals_], d / "nginx.stdout")
        wait_port(self.port, self.proc, what="nginx proxy")

    def stop(self):
        stop(self.proc, signal.SIGQUIT)
        self.proc = None

    def pids(self):
        return [self.proc.pid, *children(self.proc.pid)] if self.proc else []


class HaproxyProxy(Candidate):
    name = "haproxy"
    note = "reverse proxy: TLS, http-request set-header, http-reuse always, log to stdout"

    def available(self):
        return None if shutil.which("haproxy") else "haproxy not installed"

    def start(self):
        d = self.dir
        self.port = free_port()
        # haproxy needs 2 descriptors per connection and refuses to start beyond its limit.
        maxconn = max(1000, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200) // 2)
        (d / "haproxy.cfg").write_text(f"""
global
    nbthread 2
    maxconn {maxconn}
    ssl-server-verify required
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    http-reuse always

frontend fe
    bind 127.0.0.1:{self.port} ssl crt {self.pki}/front-combined.pem alpn h2,http/1.1 no-tls-tickets
    default_backend be

backend be
    http-request set-header Authorization "Bearer {SECRET}"
    http-request set-header Host {HOST}
    server up 127.0.0.1:{self.upstream.port} ssl verify required ca-file {self.pki}/ca.pem sni str({HOST}) verifyhost {HOST} alpn http/1.1
""")
        self.proc = spawn("haproxy", ["haproxy", "-db", "-f", str(d / "haproxy.cfg")], d / "haproxy.log")
        wait_port(self.port, self.proc, what="haproxy")


class MitmProxy(Candidate):
    name = "mitmproxy"
    note = "mitmdump reverse mode + header-setting addon; one upstream connection per client connection"

    def available(self):
        return None if shutil.which("mitmdump") else "mitmproxy not installed"

    def start(self):
        d = self.dir
        self.port = free_port()
        (d / "inject.py").write_text(
            "class Inject:\n"
            "    def request(self, flow):\n"
            f"        flow.request.headers['Authorization'] = 'Bearer {SECRET}'\n\n"
            "addons = [Inject()]\n")
        confdir = d / "conf"
        if confdir.exists():
            shutil.rmtree(confdir)
        shutil.copytree(self.pki / "mitm", confdir)
        env = dict(os.environ, HOME=str(d))
        self.proc = spawn("mitmproxy", [
            "mitmdump", "-q", "--mode", f"reverse:https://127.0.0.1:{self.upstream.port}",
            "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
            "-s", str(d / "inject.py"),
            "--set", f"confdir={confdir}",
            "--set", "keep_host_header=true",
            "--set", f"ssl_verify_upstream_trusted_ca={self.pki / 'ca.pem'}",
            "--set", "http2=false",
        ], d / "mitmdump.log", env=env)
        wait_port(self.port, self.proc, timeout=30, what="mitmdump")

    h2 = False  # started with http2=false (its HTTP/1.1 numbers are the comparison)


CANDIDATES = [Direct, Cloakroom, CloakroomLimits, CloakroomFleet, CloakroomReverse, NginxProxy,
              HaproxyProxy, MitmProxy]
NAMES = [c.name for c in CANDIDATES]


# ----------------------------------------------------------------------------------------------
# load shapes


class Shape:
    def __init__(self, name, title, path, args, size, h2=False):
        self.name, self.title, self.path, self.args, self.size = name, title, path, args, size
        self.h2 = h2  # HTTP/2 on the agent side: only candidates with `h2` run it


SHAPES = [
    Shape("keepalive", "keep-alive, 64 conns, 1 KiB", "/1k", ["-c", "64", "-t", "2"], SMALL),
    Shape("latency", "1 conn, 1 KiB", "/1k", ["-c", "1", "-t", "1"], SMALL),
    Shape("handshake", "new TLS conn per request, 16 conns", "/1k",
          ["-c", "16", "-t", "2", "--new-conn"], SMALL),
    Shape("stream", "100 KiB responses, 8 conns", "/100k", ["-c", "8", "-t", "2"], BIG),
    # 64 streams in flight over 4 connections (HTTP/2 to the proxy, HTTP/1.1 behind it).
    Shape("h2", "HTTP/2, 4 conns x 16 streams, 1 KiB", "/1k",
          ["-c", "4", "-t", "2", "--h2", "16"], SMALL, h2=True),
]


def run_loadgen(tools, cand, args, timeout):
    argv = [tools["loadgen"], *args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    try:
        res = json.loads(line)
    except json.JSONDecodeError:
        res = {"errors": 1, "error_samples": [f"loadgen exit {p.returncode}: {p.stderr.strip()[-500:]}"]}
    res["exit"] = p.returncode
    res["stderr"] = p.stderr
    return res


def check(tools, cand, upstream, auth_header=None, h2=False):
    """One request per body size: 200, exact body, and the upstream got the real credential
    (over HTTP/2 with `h2`)."""
    problems = []
    for name, size in (("1k", SMALL), ("100k", BIG)):
        target = cand.h2_target(f"/{name}") if h2 else cand.target(f"/{name}")
        if h2:
            target = [*target, "--h2", "1"]
        # Every TLS hop the client makes is TLS 1.3 (the shape), or the run stops.
        tls = ["--expect-tls", "TLSv1.3"] if target[1].startswith("https://") else []
        res = run_loadgen(tools, cand, [
            *target, *tls, "-H", auth_header or cand.auth_header(), "--requests", "1",
            "--expect-status", "200", "--expect-size", str(size),
            "--expect-body-file", str(upstream.file(name)),
            "--expect-header", "X-Auth-Check: bearer-ok"], timeout=60)
        if res["exit"] != 0:
            problems.append(f"/{name}{' (h2)' if h2 else ''}: " + "; ".join(res.get("error_samples", [])))
    return problems


def wrk_cross_check(cands, dur, warmup):
    """wrk against the reverse candidates (it cannot CONNECT): is the load generator a bottleneck?"""
    out = {}
    if not shutil.which("wrk"):
        return out
    for c in cands:
        if c.name not in ("direct", "nginx", "haproxy"):
            continue
        argv = ["wrk", "-t2", "-c64", f"-d{max(1, round(dur + warmup))}s", "-H", c.auth_header(),
                f"https://127.0.0.1:{c.port}/1k"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=dur + warmup + 60)
        m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
        if m:
            out[c.name] = (float(m.group(1)), int(non2xx.group(1)) if non2xx else 0)
    return out


# ----------------------------------------------------------------------------------------------
# report


def fmt(v, spec="{:,.0f}", none="-"):
    return none if v is None else spec.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def aggregate(runs):
    ok = [r for r in runs if r.get("requests")]
    if not ok:
        return None
    reqs = sum(r["requests"] for r in ok)
    cpu = sum(r.get("proxy_cpu_s", 0) for r in ok)
    sys_cpu = sum(r.get("proxy_sys_s", 0) for r in ok)
    return {
        "rps": statistics.median(r["rps"] for r in ok),
        "p50": statistics.median(r["p50_us"] for r in ok),
        "p99": statistics.median(r["p99_us"] for r in ok),
        "mbps": statistics.median(r.get("mbytes_per_s", 0) for r in ok),
        "cpu_us": cpu * 1e6 / reqs if reqs else None,
        "sys_pct": 100.0 * sys_cpu / cpu if cpu > 0 else None,
        "rss_mib": max(r.get("proxy_peak_rss_kb", 0) for r in ok) / 1024,
        "errors": sum(r.get("errors", 0) for r in runs),
        "rounds": len(ok),
    }


def report(results, idle, micro, cands, opts, skipped, wrk):
    out = []
    p = out.append
    names = [c.name for c in cands]
    p("")
    p(f"Cloakroom bench — {datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, "
      f"{opts.rounds} round(s) x {opts.duration:g}s (+{opts.warmup:g}s warm-up), medians over rounds")
    p("")
    hdr = (f"{'load shape':<38} {'candidate':<18} {'req/s':>9} {'p50 µs':>9} {'p99 µs':>9} "
           f"{'CPU µs/req':>10} {'sys %':>5} {'peak RSS MiB':>12} {'err':>4}")
    p(hdr)
    p("-" * len(hdr))
    for shape in SHAPES:
        first = True
        for n in names:
            a = results.get((shape.name, n))
            if a is None:
                continue
            extra = f"  {a['mbps']:.0f} MB/s" if shape.name == "stream" else ""
            p(f"{(shape.title if first else ''):<38} {n:<18} {fmt(a['rps']):>9} "
              f"{fmt(a['p50'], '{:,.0f}'):>9} {fmt(a['p99'], '{:,.0f}'):>9} "
              f"{fmt(a['cpu_us'], '{:,.1f}'):>10} {fmt(a.get('sys_pct'), '{:.0f}'):>5} "
              f"{fmt(a['rss_mib'], '{:,.1f}'):>12} "
              f"{a['errors']:>4}{extra}")
            first = False
        # ratios
        c = results.get((shape.name, "cloakroom"))
        if c:
            parts = []
            for other in ("nginx", "direct", "mitmproxy"):
                o = results.get((shape.name, other))
                if o:
                    r = ratio(c["rps"], o["rps"])
                    r99 = ratio(c["p99"], o["p99"])
                    rc = ratio(c["cpu_us"], o["cpu_us"])
                    parts.append(f"/{other}: req/s {fmt(r, '{:.2f}x')}, p99 {fmt(r99, '{:.2f}x')}, "
                                 f"CPU/req {fmt(rc, '{:.2f}x')}")
            if parts:
                p(f"{'':<38} cloakroom" + "; ".join(parts))
            # Issue #16: what revocation + limits (local, and fleet mode on Redis) cost.
            for other in ("cloakroom-limits", "cloakroom-fleet"):
                o = results.get((shape.name, other))
                if o:
                    p(f"{'':<38} {other}/cloakroom: req/s {fmt(ratio(o['rps'], c['rps']), '{:.3f}x')}, "
                      f"CPU/req {fmt(ratio(o['cpu_us'], c['cpu_us']), '{:.3f}x')}, "
                      f"p99 {fmt(ratio(o['p99'], c['p99']), '{:.2f}x')}")
        p("")
    if wrk:
        p("wrk cross-check (keep-alive, 64 conns, no certificate verification; wrk cannot CONNECT):")
        for n, (rps, bad) in wrk.items():
            ours = results.get(("keepalive", n))
            p(f"{'':<38} {n:<18} {rps:>9,.0f} req/s with wrk vs {fmt(ours and ours['rps'])} with "
              f"cloakroom_loadgen" + (f"  ({bad} non-2xx)" if bad else ""))
        p("")
    if idle:
        p(f"{'idle connections (memory)':<38} {'candidate':<18} {'conns':>7} {'setup s':>8} "
          f"{'RSS before':>11} {'RSS after':>10} {'KiB/conn':>9}")
        p("-" * len(hdr))
        for n in names:
            r = idle.get(n)
            if not r:
                continue
            p(f"{'':<38} {n:<18} {r.get('ready', 0):>7} {r.get('setup_seconds', 0):>8.1f} "
              f"{r.get('rss_before_kb', 0) / 1024:>9.1f}Mi {r.get('rss_after_kb', 0) / 1024:>8.1f}Mi "
              f"{r.get('bytes_per_conn', 0) / 1024:>9.1f}"
              + ("" if not r.get("errors") else f"  ({r['errors']} errors: {r.get('error_samples', [''])[0]})"))
        p("")
    if micro:
        p("micro-benchmarks (Google Benchmark, cloakroom_microbench)")
        p("-" * len(hdr))
        for b in micro:
            ips = b.get("items_per_second")
            p(f"  {b['name']:<58} {b['cpu_time']:>10.0f} ns   {fmt(ips, '{:,.0f}'):>12} /s"
              + (f"  {b['label']}" if b.get("label") else ""))
        p("")
    p("targets (issue #5; reported, not asserted)")
    p("-" * len(hdr))
    for line in targets(results, idle, micro, opts):
        p("  " + line)
    p("")
    p("notes")
    p("-" * len(hdr))
    for c in cands:
        p(f"  {c.name:<18} {c.note}")
    for n, why in skipped.items():
        p(f"  {n:<18} skipped: {why}")
    p("  CPU µs/req = utime+stime of the proxy process(es) from /proc/PID/stat over the measured window,")
    p("  divided by the requests completed in it (for 'direct': the upstream nginx itself).")
    p("  sys % = the stime share of that CPU: kernel work on the proxy's behalf (syscalls, TCP stack).")
    return "\n".join(out)


def targets(results, idle, micro, opts):
    lines = []

    def get(shape, cand, key):
        a = results.get((shape, cand))
        return a.get(key) if a else None

    def verdict(ok):
        return "n/a   " if ok is None else ("MET   " if ok else "MISSED")

    r = ratio(get("keepalive", "cloakroom", "rps"), get("keepalive", "nginx", "rps"))
    lines.append(f"{verdict(None if r is None else r >= 1.0)} keep-alive req/s >= 1.0x nginx: {fmt(r, '{:.2f}x')}")
    r = ratio(get("keepalive", "cloakroom", "cpu_us"), get("keepalive", "nginx", "cpu_us"))
    lines.append(f"{verdict(None if r is None else r <= 1.0)} keep-alive CPU/req <= nginx: {fmt(r, '{:.2f}x')}")
    for shape in ("keepalive", "latency"):
        r = ratio(get(shape, "cloakroom", "p99"), get(shape, "nginx", "p99"))
        lines.append(f"{verdict(None if r is None else r <= 1.1)} p99 <= 1.1x nginx ({shape}): {fmt(r, '{:.2f}x')}")
    r = ratio(get("h2", "cloakroom", "rps"), get("h2", "nginx", "rps"))
    rc = ratio(get("h2", "cloakroom", "cpu_us"), get("h2", "nginx", "cpu_us"))
    lines.append(f"{verdict(None if r is None or rc is None else r >= 1.0 and rc <= 1.0)} h2 "
                 f"(64 streams) req/s >= 1.0x nginx at <= nginx CPU/req: req/s {fmt(r, '{:.2f}x')}, "
                 f"CPU/req {fmt(rc, '{:.2f}x')}")
    r = ratio(get("handshake", "cloakroom", "cpu_us"), get("handshake", "nginx", "cpu_us"))
    lines.append(f"{verdict(None if r is None else r <= 1.0)} full-handshake CPU/req <= nginx: {fmt(r, '{:.2f}x')}")
    # The reverse listener's agent hop is plain HTTP; the forward path also terminates the
    # agent's TLS inside the tunnel, so this ratio carries that cost too.
    r = ratio(get("keepalive", "cloakroom", "cpu_us"), get("keepalive", "cloakroom-reverse", "cpu_us"))
    q = ratio(get("keepalive", "cloakroom", "rps"), get("keepalive", "cloakroom-reverse", "rps"))
    lines.append(f"{verdict(None if r is None else r <= 1.1)} forward (CONNECT) CPU/req <= 1.1x reverse "
                 f"(keepalive): {fmt(r, '{:.2f}x')} (req/s {fmt(q, '{:.2f}x')}; reverse hop is plain HTTP)")
    # Issue #16: revocation + limits on vs off (same run), locally and in fleet mode.
    for other, goal in (("cloakroom-limits", 1.03), ("cloakroom-fleet", 1.10)):
        rc = ratio(get("keepalive", other, "cpu_us"), get("keepalive", "cloakroom", "cpu_us"))
        rr = ratio(get("keepalive", "cloakroom", "rps"), get("keepalive", other, "rps"))
        ok = None if rc is None or rr is None else rc <= goal and rr <= goal
        lines.append(f"{verdict(ok)} {other} keep-alive cost <= {round((goal - 1) * 100)} % over cloakroom: "
                     f"CPU/req {fmt(rc, '{:.3f}x')}, req/s {fmt(rr and 1 / rr, '{:.3f}x')}")
    c, d = get("latency", "cloakroom", "p50"), get("latency", "direct", "p50")
    added = None if c is None or d is None else c - d
    lines.append(f"{verdict(None if added is None else added <= 50)} added p50 over direct <= 50 µs (1 conn): "
                 f"{fmt(added, '{:+.0f} µs')}")
    ic = (idle or {}).get("cloakroom")
    kib = ic["bytes_per_conn"] / 1024 if ic and ic.get("ready") else None
    n = ic.get("ready") if ic else opts.idle
    lines.append(f"{verdict(None if kib is None else kib <= 20)} <= 20 KiB per idle connection at {n}: "
                 f"{fmt(kib, '{:.1f} KiB')}" + ("" if n == 5000 else " (not the 5,000 of the target)"))
    by = {b["name"]: b for b in micro or []}
    cached = by.get("BM_TokenVerify_Cached_DistinctTokens")
    cold = by.get("BM_TokenVerify_DistinctTokens")
    c = cached and cached.get("items_per_second")
    lines.append(f"{verdict(None if c is None else c >= 1_000_000)} token verify >= 1 M/s cached: "
                 f"{fmt(c, '{:,.0f}/s')} (distinct tokens, all cache hits)")
    v = cold and cold.get("items_per_second")
    lines.append(f"{verdict(None if v is None else v >= 200_000)} token verify >= 200 k/s uncached: "
                 f"{fmt(v, '{:,.0f}/s')} (distinct tokens)")
    return lines


# ----------------------------------------------------------------------------------------------
# main


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    ap.add_argument("--only", default="", help=f"comma list of candidates ({', '.join(NAMES)})")
    ap.add_argument("--shapes", default="", help="comma list of load shapes (keepalive, latency, "
                    "handshake, stream, h2, idle)")
    ap.add_argument("--duration", type=float, help="seconds measured per run (default 4)")
    ap.add_argument("--warmup", type=float, help="seconds before measuring (default 1)")
    ap.add_argument("--rounds", type=int, help="alternating rounds (default 3)")
    ap.add_argument("--idle", type=int, help="idle connections for the memory test (default 5000)")
    ap.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--bin-dir", required=True, help="build directory (bench/run passes it)")
    opts = ap.parse_args()
    q = opts.quick
    opts.duration = opts.duration or (1.0 if q else 4.0)
    opts.warmup = opts.warmup if opts.warmup is not None else (0.3 if q else 1.0)
    opts.rounds = opts.rounds or (1 if q else 3)
    opts.idle = opts.idle if opts.idle is not None else (500 if q else 5000)
    bindir = pathlib.Path(opts.bin_dir)
    tools = {"cloakroom": str(bindir / "cloakroom"), "loadgen": str(bindir / "bench" / "cloakroom_loadgen"),
             "micro": str(bindir / "bench" / "cloakroom_microbench")}
    only = [x for x in opts.only.split(",") if x]
    for x in only:
        if x not in NAMES:
            ap.error(f"unknown candidate {x!r}; one of {', '.join(NAMES)}")
    shapes_wanted = [x for x in opts.shapes.split(",") if x]
    shape_names = [s.name for s in SHAPES] + ["idle"]
    for x in shapes_wanted:
        if x not in shape_names:
            ap.error(f"unknown shape {x!r}; one of {', '.join(shape_names)}")
    shapes = [s for s in SHAPES if not shapes_wanted or s.name in shapes_wanted]
    do_idle = (not shapes_wanted or "idle" in shapes_wanted) and opts.idle > 0

    work = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-bench-"))
    os.chmod(work, 0o755)

    def cleanup():
        stop_all()
        if opts.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    atexit.register(cleanup)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    started = time.monotonic()
    pki = make_pki(work / "pki")
    upstream = Upstream(work, pki).setup().start()
    log(f"upstream nginx on 127.0.0.1:{upstream.port}")

    # Cloakroom first: its token is what every agent-side client sends.
    tools["token"] = "acm_placeholder"
    cands = []
    skipped = {}
    forward = None
    for cls in CANDIDATES:
        wanted = not only or cls.name in only or (cls is Cloakroom and "cloakroom-reverse" in only)
        if not wanted:
            continue
        c = cls(work, pki, upstream, tools, forward=forward) if cls is CloakroomReverse else cls(work, pki, upstream, tools)
        if cls is Cloakroom:
            forward = c
            c.start()
            tools["token"] = c.mint()
            log(f"cloakroom on 127.0.0.1:{c.port}" + (f", reverse listener on {c.reverse_port}" if c.reverse_port else ""))
            if only and "cloakroom" not in only:
                continue  # started for cloakroom-reverse only
        why = c.available()
        if why:
            skipped[c.name] = why
            log(f"{c.name}: skipped ({why})")
            continue
        if cls is not Cloakroom:
            c.start()
            # Every Cloakroom candidate signs with MACAROON_SIGNING_KEY: one token fits all.
            if isinstance(c, Cloakroom) and tools["token"] == "acm_placeholder":
                tools["token"] = c.mint()
            if isinstance(c, Cloakroom):
                log(f"{c.name} on 127.0.0.1:{c.port}")
        cands.append(c)
    if tools["token"] == "acm_placeholder":
        # No Cloakroom in this run: the proxies still get a token-shaped header of the same size.
        tools["token"] = "acm_" + "x" * 200

    # Correctness first: no candidate may be fast because it is broken.
    # Negative control: the upstream given a wrong credential must fail the check, on the header.
    control = Direct(work, pki, upstream, tools)
    control.start()
    neg = check(tools, control, upstream, auth_header="Authorization: Bearer not-the-secret")
    if len(neg) != 2 or not all("x-auth-check" in x for x in neg):
        log(f"the injection check does not catch a wrong credential: {neg}")
        return 1
    with_h2 = any(sh.h2 for sh in shapes)
    for c in cands:
        problems = check(tools, c, upstream)
        if with_h2 and c.h2:
            problems += check(tools, c, upstream, h2=True)
        if problems:
            log(f"{c.name}: FAILED the correctness check: {'; '.join(problems)}")
            return 1
        log(f"{c.name}: 200, exact body, upstream received the injected credential")

    results_raw = {}
    dur = opts.duration
    for rnd in range(opts.rounds):
        order = cands[rnd % len(cands):] + cands[:rnd % len(cands)]
        for shape in shapes:
            for c in order:
                if shape.h2 and not c.h2:
                    continue
                target = c.h2_target(shape.path) if shape.h2 else c.target(shape.path)
                args = [*target, "-H", c.auth_header(), *shape.args,
                        "-d", str(dur), "--warmup", str(opts.warmup),
                        "--expect-status", "200", "--expect-size", str(shape.size),
                        "--expect-header", "X-Auth-Check: bearer-ok"]
                for pid in c.pids():
                    args += ["--pid", str(pid)]
                res = run_loadgen(tools, c, args, timeout=dur + opts.warmup + 60)
                results_raw.setdefault((shape.name, c.name), []).append(res)
                log(f"round {rnd + 1}/{opts.rounds} {shape.name:<9} {c.name:<18} "
                    f"{res.get('rps', 0):>9,.0f} req/s  p50 {res.get('p50_us', 0):>7,.0f} µs  "
                    f"p99 {res.get('p99_us', 0):>7,.0f} µs  cpu {res.get('proxy_cpu_us_per_req', 0):>6.1f} µs/req"
                    + (f"  ERRORS {res.get('errors')}: {res.get('error_samples', [])[:2]}" if res.get("errors") else ""))
    wrk = wrk_cross_check(cands, dur, opts.warmup) if any(sh.name == "keepalive" for sh in shapes) else {}
    results = {k: aggregate(v) for k, v in results_raw.items()}
    results = {k: v for k, v in results.items() if v}

    idle = {}
    if do_idle:
        # Each candidate on a freshly started process, alone, so the baseline is a warm proxy
        # (one request done) whose heap has no history of earlier loads.
        for c in cands:
            c.stop()
        for c in cands:
            c.fresh()
            problems = check(tools, c, upstream)
            if problems:
                idle[c.name] = {"ready": 0, "errors": 1, "error_samples": problems}
                c.stop()
                continue
            args = [*c.target("/1k"), "-H", c.auth_header(), "--idle", str(opts.idle),
                    "-t", "2", "--settle", "1", "--expect-status", "200",
                    "--expect-size", str(SMALL)]
            for pid in c.pids():
                args += ["--pid", str(pid)]
            res = run_loadgen(tools, c, args, timeout=300)
            idle[c.name] = res
            log(f"idle {c.name:<18} {res.get('ready', 0)} conns in {res.get('setup_seconds', 0):.1f}s, "
                f"{res.get('bytes_per_conn', 0) / 1024:.1f} KiB/conn"
                + (f"  ERRORS {res.get('errors')}: {res.get('error_samples', [])[:2]}" if res.get("errors") else ""))
            c.stop()

    stop_all()

    micro = []
    if not opts.no_micro:
        log("micro-benchmarks")
        mjson = work / "micro.json"
        min_time = "0.05" if q else "0.3"
        p = subprocess.run([tools["micro"], f"--benchmark_min_time={min_time}",
                            f"--benchmark_out={mjson}", "--benchmark_out_format=json"],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0 or not mjson.exists():
            log(f"micro-benchmarks failed: {p.stderr[-2000:]}")
        else:
            micro = [b for b in json.loads(mjson.read_text())["benchmarks"] if b.get("run_type") != "aggregate"]

    text = report(results, idle, micro, cands, opts, skipped, wrk)
    print(text, flush=True)
    outdir = bindir / "bench-results"
    outdir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (outdir / f"{stamp}.txt").write_text(text + "\n")
    (outdir / f"{stamp}.json").write_text(json.dumps({
        "options": vars(opts),
        "runs": {f"{k[0]}/{k[1]}": [{kk: vv for kk, vv in r.items() if kk != "stderr"} for r in v]
                 for k, v in results_raw.items()},
        "idle": {k: {kk: vv for kk, vv in v.items() if kk != "stderr"} for k, v in idle.items()},
        "micro": micro,
        "wrk": wrk,
    }, indent=1))
    log(f"done in {time.monotonic() - started:.0f}s; results in {outdir}/{stamp}.txt and .json")
    bad = sum(a["errors"] for a in results.values()) + sum(r.get("errors", 0) for r in idle.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
