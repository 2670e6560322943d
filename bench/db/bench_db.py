"""pgbench and redis-benchmark, direct vs through Cloakroom's database gateways, one run.

Starts PostgreSQL 15 (SCRAM user) and Redis 7 (ACL user) in temporary directories on loopback,
Cloakroom with one [[database]] for each, then alternates direct and gateway rounds so machine
drift hits both alike. Prints TPS / requests per second and the ratio gateway/direct.
"""
import argparse
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


class Postgres:
    def __init__(self, root):
        self.root = root / "pg"
        self.root.mkdir()
        self.port = free_port()
        self.password = "bench-" + secrets.token_hex(8)
        self.as_root = os.geteuid() == 0

    def run(self, *cmd):
        if self.as_root:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self):
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        self.run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                 "--no-sync")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                       "synchronous_commit = off\nmax_connections = 50\n")
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"), "-w", "start")
        self.psql(f"CREATE USER bench PASSWORD '{self.password}'")
        self.psql("CREATE DATABASE bench OWNER bench")  # not inside a multi-statement transaction
        return self

    def psql(self, sql, db="postgres"):
        subprocess.run(["psql", "-X", "-q", "-h", str(self.root), "-p", str(self.port), "-U",
                        "postgres", "-d", db, "-c", sql], check=True, capture_output=True)

    def stop(self):
        try:
            self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        except subprocess.SubprocessError:
            pass


class Redis:
    def __init__(self, root):
        self.root = root / "redis"
        self.root.mkdir()
        self.port = free_port()
        self.password = "bench-" + secrets.token_hex(8)
        self.proc = None

    def start(self):
        conf = self.root / "redis.conf"
        conf.write_text(f"bind 127.0.0.1\nport {self.port}\ndir {self.root}\nsave \"\"\n"
                        f"appendonly no\nuser default off\nuser bench on >{self.password} ~* &* +@all\n")
        self.proc = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Cloakroom:
    def __init__(self, binary, root, pg, redis):
        self.binary, self.root = binary, root / "cloakroom"
        self.root.mkdir()
        sdir = self.root / "secrets"
        sdir.mkdir(mode=0o700)
        for name, value in (("pg", pg.password), ("redis", redis.password)):
            (sdir / name).write_text(value)
            os.chmod(sdir / name, 0o600)
        self.config = self.root / "cloakroom.toml"
        self.config.write_text(f"""
[gateway]
listen = "127.0.0.1:0"
audit_log = "{self.root / 'audit.jsonl'}"
data_dir = "{self.root / 'data'}"
[token]
key_dir = "{self.root / 'keys'}"
[secrets]
dir = "{sdir}"
[[database]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{pg.port}"
[database.logins]
bench = {{ user = "bench", password = "file:pg" }}
[[database]]
name = "redis"
protocol = "redis"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{redis.port}"
[database.logins]
bench = {{ user = "bench", password = "file:redis" }}
""")
        self.env = {"PATH": os.environ["PATH"], "HOME": str(self.root), "LANG": "C.UTF-8"}
        self.proc = None
        self.ports = {}

    def start(self):
        self.proc = subprocess.Popen([self.binary, "--config", str(self.config), "serve"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=self.env, text=True)
        pattern = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(database (\w+),")
        deadline = time.monotonic() + 20
        while len(self.ports) < 2 and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = pattern.search(line)
            if m:
                self.ports[m.group(2)] = int(m.group(1))
        if len(self.ports) < 2:
            raise SystemExit("cloakroom serve did not start its database listeners")
        return self

    def mint(self, *args):
        return subprocess.run([self.binary, "--config", str(self.config), "mint", "--valid-for",
                               "2h", *args], check=True, capture_output=True, text=True,
                              env=self.env).stdout.strip()

    def cpu_seconds(self):
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def pgbench(port, password, user, seconds, select_only, clients=8):
    args = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-c", str(clients), "-j", "2",
            "-T", str(seconds), "-n", "bench"]
    if select_only:
        args.insert(1, "-S")
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         env={**os.environ, "PGPASSWORD": password}).stdout
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return float(m.group(1))


def redis_benchmark(port, user, password, requests, pipeline):
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "--user", user,
                          "-a", password, "-t", "get,set", "-n", str(requests), "-c", "50",
                          "-P", str(pipeline), "-q", "--csv"],
                         check=True, capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] in ("SET", "GET"):
            result[cells[0]] = float(cells[1])
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    seconds = 3 if args.quick else 10
    rounds = 1 if args.quick else args.rounds
    redis_requests = 50000 if args.quick else 200000

    root = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-bench-db-", dir="/tmp"))
    os.chmod(root, 0o755)
    pg = Postgres(root)
    redis = Redis(root)
    gw = None
    try:
        pg.start()
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", str(pg.port),
                        "-U", "bench", "bench"], check=True, capture_output=True,
                       env={**os.environ, "PGPASSWORD": pg.password})
        redis.start()
        gw = Cloakroom(args.bin, root, pg, redis).start()
        pg_token = gw.mint("--db", "pg", "--db-login", "bench", "--db-name", "bench")
        redis_token = gw.mint("--db", "redis", "--db-login", "bench")

        results = {}
        def add(name, kind, value):
            results.setdefault(name, {}).setdefault(kind, []).append(value)

        for r in range(rounds):
            for select_only, name in ((True, "pgbench -S (select-only), 8 clients"),
                                      (False, "pgbench TPC-B-like, 8 clients")):
                order = [("direct", pg.port, pg.password), ("cloakroom", gw.ports["pg"], pg_token)]
                if r % 2:
                    order.reverse()
                for kind, port, password in order:
                    cpu0 = gw.cpu_seconds()
                    tps = pgbench(port, password, "bench", seconds, select_only)
                    add(name, kind, tps)
                    if kind == "cloakroom":
                        add(name, "cpu_us_per_tx", (gw.cpu_seconds() - cpu0) * 1e6 / (tps * seconds))
            for pipeline in (1, 16):
                order = [("direct", redis.port, redis.password),
                         ("cloakroom", gw.ports["redis"], redis_token)]
                if r % 2:
                    order.reverse()
                for kind, port, password in order:
                    for op, rps in redis_benchmark(port, "bench", password, redis_requests,
                                                   pipeline).items():
                        add(f"redis-benchmark {op} -c 50 -P {pipeline}", kind, rps)

        print(f"\n{'workload':44} {'direct':>12} {'cloakroom':>12} {'ratio':>7} {'gw CPU us/tx':>13}")
        for name, kinds in results.items():
            direct = statistics.median(kinds["direct"])
            via = statistics.median(kinds["cloakroom"])
            cpu = kinds.get("cpu_us_per_tx")
            cpu_text = f"{statistics.median(cpu):13.1f}" if cpu else f"{'':>13}"
            print(f"{name:44} {direct:12.0f} {via:12.0f} {via / direct:7.3f} {cpu_text}")
        print(f"\n(median of {rounds} round(s), {seconds}s per pgbench run, "
              f"{redis_requests} redis requests per run; TPS and requests/s; ratio = cloakroom/direct)")
        for name, kinds in results.items():
            print(json.dumps({"workload": name, **kinds}))
    finally:
        if gw:
            gw.stop()
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
