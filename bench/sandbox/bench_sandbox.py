#!/usr/bin/env python3
"""bench/sandbox/run's driver (bench/README.md, "Sandbox").

1. Start-up, in one hyperfine run (so the numbers are comparable): `true`,
   `bwrap --unshare-all --die-with-parent --ro-bind / / true`, `cloakroom run --no-network -- true`
   and `cloakroom run -- true` with a `cloakroom serve` already running (the usual case: the
   sandbox hands its listeners over and the command starts).
2. Request latency inside one sandbox: the same HTTPS GET to a configured service, sent through
   the forward proxy (HTTPS_PROXY, CONNECT) and straight to the host (no proxy: the nftables rule
   sends it to the transparent listener, the name comes from the gateway's DNS), each on one
   kept-alive connection and with a new connection per request, alternating in rounds.

Everything lives in a temporary directory outside /tmp (the sandbox has its own /tmp); the
upstream is a small threaded HTTPS server of this script on 127.0.0.1 that both paths share.
"""
import argparse
import http.server
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOST = "api.example.com"
SECRET = "sk_bench_sandbox_real_credential_5e1f"
BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]

CLIENT = r'''
import http.client, json, os, socket, ssl, sys, time
mode, requests, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
token = os.environ["API_TOKEN"]
context = ssl.create_default_context()
proxy = os.environ["HTTPS_PROXY"].split("//")[1].split(":")
# The synthetic address the gateway's DNS gives out, looked up once: "transparent-pinned" dials
# it directly (SNI api.example.com), so it differs from "forward" only by the listener; plain
# "transparent" resolves the name for every new connection, as clients do.
pinned = socket.getaddrinfo("api.example.com", 443, socket.AF_INET)[0][4][0]
class Pinned(http.client.HTTPSConnection):
    def connect(self):
        raw = socket.create_connection((pinned, 443), self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)
def connection(path):
    if path == "forward":
        c = http.client.HTTPSConnection(proxy[0], int(proxy[1]), context=context, timeout=20)
        c.set_tunnel("api.example.com", 443)
    elif path == "transparent-pinned":
        c = Pinned("api.example.com", 443, context=context, timeout=20)
    else:
        c = http.client.HTTPSConnection("api.example.com", 443, context=context, timeout=20)
    return c
def get(c):
    c.request("GET", "/1k", headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and r.getheader("X-Auth-Check") == "bearer-ok", (r.status, body[:200])
results = {"forward": [], "transparent": [], "transparent-pinned": []}
for _ in range(rounds):
    for path in results:
        if mode == "keepalive":
            c = connection(path)
            get(c)  # handshake and the gateway's upstream connection: not measured
            for _ in range(requests):
                t = time.perf_counter(); get(c); results[path].append(time.perf_counter() - t)
            c.close()
        else:
            for _ in range(requests):
                t = time.perf_counter()
                c = connection(path); get(c); c.close()
                results[path].append(time.perf_counter() - t)
print(json.dumps(results))
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: pathlib.Path):
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj",
            "/CN=Cloakroom Bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "upstream.key", "-out", "upstream.csr", "-subj", f"/CN={HOST}", cwd=d)
    (d / "upstream.ext").write_text(
        f"subjectAltName=DNS:{HOST}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "upstream.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "upstream.pem", "-days", "2", "-extfile", "upstream.ext",
            cwd=d)


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without TCP_NODELAY, Nagle holds the body back until the
    # delayed ACK of the headers (40 ms), which would swamp what is measured.
    disable_nagle_algorithm = True
    body = b"x" * 1024

    def do_GET(self):
        ok = self.headers.get("Authorization") == "Bearer " + SECRET
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("X-Auth-Check", "bearer-ok" if ok else "other")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def start_upstream(pki: pathlib.Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Upstream)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "upstream.pem", pki / "upstream.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(base: pathlib.Path, upstream_port: int, pki: pathlib.Path):
    secrets = base / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "api").write_text(SECRET)
    (secrets / "api").chmod(0o600)
    config = base / "cloakroom.toml"
    config.write_text(f"""
[gateway]
listen = "127.0.0.1:{free_port()}"
audit_log = "{base / 'audit.log'}"
data_dir = "{base / 'data'}"
[token]
key_dir = "{base / 'keys'}"
[secrets]
dir = "{secrets}"
[[service]]
name = "api"
hosts = ["{HOST}"]
credential = {{ type = "bearer", secret = "file:api" }}
connect_to = "127.0.0.1:{upstream_port}"
upstream_ca = "{pki / 'ca.pem'}"
allow_private = true
token_env = ["API_TOKEN"]
""")
    return config


def hyperfine(commands, runs, cwd, env, export):
    args = ["hyperfine", "-N", "--warmup", "5", "--runs", str(runs), "--export-json", str(export)]
    for name, command in commands:
        args += ["-n", name, command]
    subprocess.run(args, cwd=cwd, env=env, check=True)
    return {r["command"]: r for r in json.loads(export.read_text())["results"]}


def summary(samples):
    ordered = sorted(samples)
    return {"median_ms": statistics.median(ordered) * 1000,
            "p90_ms": ordered[int(len(ordered) * 0.9)] * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000, "n": len(ordered)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(ROOT / "build" / "cloakroom"))
    parser.add_argument("--runs", type=int, default=100, help="hyperfine runs per command")
    parser.add_argument("--requests", type=int, default=200, help="requests per path per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    binary = str(pathlib.Path(args.bin).resolve())
    root = pathlib.Path("/var/cache" if os.geteuid() == 0 else pathlib.Path.home() / ".cache")
    root = root / "cloakroom-bench"
    root.mkdir(parents=True, exist_ok=True)
    base = pathlib.Path(tempfile.mkdtemp(prefix="sbx-", dir=root))
    serve = None
    try:
        pki = base / "pki"
        pki.mkdir()
        make_pki(pki)
        upstream = start_upstream(pki)
        config = write_config(base, upstream.server_address[1], pki)
        project = base / "project"
        project.mkdir()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(base),
               "LANG": "C.UTF-8"}
        serve = subprocess.Popen([binary, "--config", str(config), "serve"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        for line in serve.stderr:
            if "sandbox hand-over socket" in line:
                break
        else:
            raise SystemExit("cloakroom serve did not open its hand-over socket")
        threading.Thread(target=lambda: [None for _ in serve.stderr], daemon=True).start()
        run = f"{binary} run --config {config}"
        # The first `cloakroom run` creates the public CA files; later ones find them current.
        subprocess.run([*run.split(), "--", "true"], cwd=project, env=env, check=True,
                       capture_output=True)
        started = hyperfine([("true", "true"), ("bwrap", " ".join(BWRAP)),
                             ("cloakroom run --no-network", f"{run} --no-network -- true"),
                             ("cloakroom run", f"{run} -- true")],
                            args.runs, project, env, base / "startup.json")
        base_ms = {name: r["median"] * 1000 for name, r in started.items()}
        latency = {}
        for mode in ("keepalive", "new-connection"):
            requests = args.requests if mode == "keepalive" else max(20, args.requests // 4)
            proc = subprocess.run([*run.split(), "--", "python3", "-c", CLIENT, mode,
                                   str(requests), str(args.rounds)], cwd=project, env=env,
                                  capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                raise SystemExit(f"client inside the sandbox failed:\n{proc.stderr}")
            samples = json.loads(proc.stdout.strip().splitlines()[-1])
            latency[mode] = {path: summary(values) for path, values in samples.items()}
    finally:
        if serve is not None and serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print("\nStart-up (hyperfine medians, one run):")
    for name, ms in base_ms.items():
        print(f"  {name:28s} {ms:8.2f} ms")
    print(f"  cloakroom run - bwrap        {base_ms['cloakroom run'] - base_ms['bwrap']:8.2f} ms"
          f"   (goal: within 30 ms)")
    print(f"  cloakroom run / bwrap        {base_ms['cloakroom run'] / base_ms['bwrap']:8.2f} x")
    # CPU time (user + system, the command and its children) does not grow with the machine's
    # load the way wall-clock time does: on a busy machine, compare these.
    print("  CPU (user + system, mean):")
    for name, r in started.items():
        print(f"    {name:26s} {(r['user'] + r['system']) * 1000:8.2f} ms")
    print("\nRequest latency inside the sandbox (GET /1k, ms):")
    for mode, paths in latency.items():
        f = paths["forward"]
        print(f"  {mode:15s} forward             median {f['median_ms']:7.3f} p90 "
              f"{f['p90_ms']:7.3f}")
        for path in ("transparent", "transparent-pinned"):
            t = paths[path]
            print(f"  {'':15s} {path:19s} median {t['median_ms']:7.3f} p90 {t['p90_ms']:7.3f}"
                  f"   / forward {t['median_ms'] / f['median_ms']:.3f} (goal: <= 1.05)")
    out = ROOT / "build" / "bench-results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"sandbox-{stamp}.json").write_text(json.dumps(
        {"startup_ms": base_ms, "startup": started, "latency": latency}, indent=1))
    print(f"\nraw numbers: {out / f'sandbox-{stamp}.json'}")


if __name__ == "__main__":
    main()
