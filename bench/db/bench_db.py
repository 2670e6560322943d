"""pgbench and redis-benchmark, direct vs through Cloakroom's database gateways and the relays
people would use instead (pgbouncer in session and transaction mode, haproxy `mode tcp`,
nutcracker/twemproxy), one run.

Starts PostgreSQL 15 (SCRAM user) and Redis 7 (ACL user) in temporary directories on loopback,
Cloakroom with one [[database]] for each, and the other relays, then runs every candidate in each
round, rotating which goes first so machine drift hits all alike. Prints the throughput of each
as a ratio to direct, and each relay's CPU and system calls per transaction (perf stat on the
relay's process during the same runs; strace -c when perf cannot count). `--syscalls` only counts
the system calls, by name, without the throughput rounds. `--instructions` runs Cloakroom (and the
baseline) under callgrind and prints user-space instructions per transaction: exact and
independent of the machine's load, unlike CPU time (two runs of different length, differenced, so
the logins cancel out).
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
        # nutcracker (twemproxy) can only AUTH with a password (the default user), not an ACL user.
        self.default_password = "bench-" + secrets.token_hex(8)
        self.proc = None

    def start(self):
        conf = self.root / "redis.conf"
        conf.write_text(f"bind 127.0.0.1\nport {self.port}\ndir {self.root}\nsave \"\"\n"
                        f"appendonly no\nuser default on >{self.default_password} ~* &* +@all\n"
                        f"user bench on >{self.password} ~* &* +@all\n")
        self.proc = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Cloakroom:
    def __init__(self, binary, root, pg, redis, name="cloakroom", wrapper=(), serve_args=()):
        self.binary, self.root, self.name = binary, root / name, name
        self.wrapper = list(wrapper)  # e.g. valgrind: runs `serve` only
        self.serve_args = list(serve_args)  # e.g. --db-relay-threads 0
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
        self.proc = subprocess.Popen([*self.wrapper, self.binary, "--config", str(self.config),
                                      "serve", *self.serve_args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=self.env, text=True)
        pattern = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(database (\w+),")
        deadline = time.monotonic() + (120 if self.wrapper else 20)
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
            self.proc.wait(timeout=120 if self.wrapper else 10)


def proc_cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_context_switches(pid):
    """Voluntary and involuntary context switches of every thread of `pid` so far."""
    total = 0
    for status in pathlib.Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


class Relay:
    """Another relay doing the same job on loopback (no credential injection: the client logs in
    with the real password), for the comparison. Subclasses write a config and a command."""
    name = "?"

    def __init__(self, root):
        self.root = root / self.name
        self.root.mkdir()
        self.proc = None
        self.ports = {}

    def launch(self, cmd, user=None):
        if user and os.geteuid() == 0:
            shutil.chown(self.root, user)
            for f in self.root.iterdir():
                shutil.chown(f, user)
            cmd = ["runuser", "-u", user, "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.ports.values():
            wait_port(port)
        return self

    @property
    def pid(self):
        # runuser execs nothing itself: the relay is its child.
        if self.proc.args[0] == "runuser":
            children = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            kids = children.read_text().split()
            return int(kids[0]) if kids else self.proc.pid
        return self.proc.pid

    def cpu_seconds(self):
        return proc_cpu_seconds(self.pid)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class PgBouncer(Relay):
    def __init__(self, root, pg, mode):
        self.name = f"pgbouncer-{mode}"
        super().__init__(root)
        self.ports = {"pg": free_port()}
        (self.root / "userlist.txt").write_text(f'"bench" "{pg.password}"\n')
        (self.root / "pgbouncer.ini").write_text(f"""[databases]
bench = host=127.0.0.1 port={pg.port} dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.ports["pg"]}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.root / "userlist.txt"}
pool_mode = {mode}
max_client_conn = 200
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = {self.root / "pgbouncer.log"}
""")

    def start(self):
        return self.launch(["pgbouncer", str(self.root / "pgbouncer.ini")], user="postgres")


class HaproxyTcp(Relay):
    name = "haproxy"

    def __init__(self, root, pg, redis):
        super().__init__(root)
        self.ports = {"pg": free_port(), "redis": free_port()}
        (self.root / "haproxy.cfg").write_text(f"""global
  maxconn 2000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen pg
  bind 127.0.0.1:{self.ports["pg"]}
  server db 127.0.0.1:{pg.port}
listen redis
  bind 127.0.0.1:{self.ports["redis"]}
  server db 127.0.0.1:{redis.port}
""")

    def start(self):
        return self.launch(["haproxy", "-db", "-f", str(self.root / "haproxy.cfg")])


class Nutcracker(Relay):
    name = "nutcracker"

    def __init__(self, root, redis):
        super().__init__(root)
        self.ports = {"redis": free_port()}
        (self.root / "nutcracker.yml").write_text(f"""bench:
  listen: 127.0.0.1:{self.ports["redis"]}
  hash: fnv1a_64
  distribution: ketama
  redis: true
  redis_auth: {redis.default_password}
  servers:
   - 127.0.0.1:{redis.port}:1
""")

    def start(self):
        return self.launch(["nutcracker", "-c", str(self.root / "nutcracker.yml")])


def pgbench(port, password, user, seconds, select_only, clients=8):
    args = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-c", str(clients), "-j", "2",
            "-T", str(seconds), "-n", "bench"]
    if select_only:
        args.insert(1, "-S")
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         env={**os.environ, "PGPASSWORD": password}).stdout
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return float(m.group(1))


def pgbench_transactions(port, password, user, transactions, clients=8):
    subprocess.run(["pgbench", "-S", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-c",
                    str(clients), "-j", "2", "-t", str(transactions), "-n", "bench"], check=True,
                   capture_output=True, env={**os.environ, "PGPASSWORD": password})
    return transactions * clients


def redis_auth_args(user, password):
    return (["--user", user] if user else []) + ["-a", password]


def redis_requests_run(port, user, password, requests, pipeline):
    subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                    *redis_auth_args(user, password), "-t", "get", "-n", str(requests), "-c", "50",
                    "-P", str(pipeline), "-q"], check=True, capture_output=True)
    return requests


# System calls counted per relay process by perf (kernel tracepoints: exact counts, little
# overhead, so they are taken in the throughput rounds too). The named ones explain the total.
SYSCALL_EVENTS = [("total", "raw_syscalls:sys_enter", None),
                  ("recvfrom", "syscalls:sys_enter_recvfrom", None),
                  ("recvfrom EAGAIN", "syscalls:sys_exit_recvfrom", "ret == -11"),
                  ("recvmmsg", "syscalls:sys_enter_recvmmsg", None),
                  ("recvmmsg EAGAIN", "syscalls:sys_exit_recvmmsg", "ret == -11"),
                  ("sendto", "syscalls:sys_enter_sendto", None),
                  ("read", "syscalls:sys_enter_read", None),
                  ("write", "syscalls:sys_enter_write", None),
                  ("recvmsg", "syscalls:sys_enter_recvmsg", None),
                  ("sendmsg", "syscalls:sys_enter_sendmsg", None),
                  ("epoll_wait", "syscalls:sys_enter_epoll_wait", None),
                  ("epoll_pwait", "syscalls:sys_enter_epoll_pwait", None),
                  ("epoll_ctl", "syscalls:sys_enter_epoll_ctl", None),
                  ("futex", "syscalls:sys_enter_futex", None),
                  ("timerfd_settime", "syscalls:sys_enter_timerfd_settime", None)]


def perf_works():
    if shutil.which("perf") is None:
        return False
    probe = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and "raw_syscalls:sys_enter" in probe.stderr \
        and "<not supported>" not in probe.stderr


class SyscallCounter:
    """Counts the system calls of process `pid` (all its threads) while the block runs: perf stat
    when the kernel lets us, else strace -c -f (exact too, but it slows the relay down a lot)."""
    use_perf = None

    def __init__(self, pid):
        if SyscallCounter.use_perf is None:
            SyscallCounter.use_perf = perf_works()
        self.pid = pid
        self.counts = {}

    def __enter__(self):
        self.out = tempfile.NamedTemporaryFile(prefix="syscalls-", suffix=".txt", delete=False).name
        if self.use_perf:
            cmd = ["perf", "stat", "-x,", "-o", self.out, "-p", str(self.pid)]
            for _, event, flt in SYSCALL_EVENTS:
                cmd += ["-e", event] + (["--filter", flt] if flt else [])
        else:
            cmd = ["strace", "-f", "-c", "-o", self.out, "-p", str(self.pid)]
        self.tracer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3 if self.use_perf else 1.0)  # attached to every thread before the work
        return self

    def __exit__(self, *exc):
        self.tracer.send_signal(signal.SIGINT)
        self.tracer.wait(timeout=30)
        text = pathlib.Path(self.out).read_text()
        os.unlink(self.out)
        if self.use_perf:
            order = iter(SYSCALL_EVENTS)
            for line in text.splitlines():
                cells = line.split(",")
                if len(cells) < 3 or not cells[2].startswith(("raw_syscalls", "syscalls")):
                    continue
                label, _, _ = next(order)
                if cells[0].isdigit():
                    self.counts[label] = int(cells[0])
        else:
            total = 0
            for line in text.splitlines():
                cells = line.split()
                # "% time seconds usecs/call calls [errors] syscall"
                if len(cells) >= 5 and cells[0][0].isdigit() and not line.startswith("100.00"):
                    self.counts[cells[-1]] = int(cells[3])
                    total += int(cells[3])
            self.counts["total"] = total
        return False

    def per(self, units):
        return {name: n / units for name, n in self.counts.items() if n}


def syscalls_per_unit(pid, run):
    """System calls of process `pid` per unit of work done by `run()`, by name."""
    with SyscallCounter(pid) as counter:
        units = run()
    return counter.per(units)


class Callgrind:
    """Runs a Cloakroom under callgrind and counts the instructions it executes (user space, all
    threads) during a stretch of work: zeroed before, dumped after (callgrind_control)."""

    def __init__(self, root, name):
        self.dir = root / f"callgrind-{name}"
        self.dir.mkdir()
        self.wrapper = ["valgrind", "--tool=callgrind", f"--log-file={self.dir / 'valgrind.log'}",
                        f"--callgrind-out-file={self.dir / 'out'}"]
        self.pid = None

    def control(self, flag):
        subprocess.run(["callgrind_control", flag, str(self.pid)], check=True,
                       capture_output=True, timeout=120)

    def instructions(self, run):
        """(units, instructions) of run() -> units."""
        before = set(self.dir.glob("out.*"))
        self.control("-z")
        units = run()
        self.control("-d")
        dumps = sorted(set(self.dir.glob("out.*")) - before)
        total = 0
        for dump in dumps:
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith(("totals:", "summary:")):
                    total += int(line.split()[1])
                    break
        return units, total

    def per_unit(self, run_n, small, large):
        """Instructions per unit of work, from two runs of different size: what the runs have in
        common (connecting, logging in) cancels out."""
        u1, i1 = self.instructions(lambda: run_n(small))
        u2, i2 = self.instructions(lambda: run_n(large))
        return (i2 - i1) / (u2 - u1)


def redis_benchmark(port, user, password, requests, pipeline):
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                          *redis_auth_args(user, password), "-t", "get,set", "-n", str(requests), "-c", "50",
                          "-P", str(pipeline), "-q", "--csv"],
                         check=True, capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] in ("SET", "GET"):
            result[cells[0]] = float(cells[1])
    return result


def count_instructions(args, root, pg, redis):
    """--instructions: user-space instructions per unit of work, under callgrind (slow, exact)."""
    bins = [("cloakroom", args.bin)] + ([("cloakroom-base", args.baseline_bin)]
                                       if args.baseline_bin else [])
    print(f"{'workload':30} {'relay':16} {'instructions':>13}")
    for name, binary in bins:
        grind = Callgrind(root, name)
        gw = Cloakroom(binary, root, pg, redis, name, wrapper=grind.wrapper,
                       serve_args=args.serve_args.split() if name == "cloakroom"
                       else args.baseline_serve_args.split()).start()
        try:
            grind.pid = gw.proc.pid
            pg_token = gw.mint("--db", "pg", "--db-login", "bench", "--db-name", "bench")
            redis_token = gw.mint("--db", "redis", "--db-login", "bench")
            for workload, run_n, small, large in (
                    ("pgbench -S, per transaction",
                     lambda n: pgbench_transactions(gw.ports["pg"], pg_token, "bench", n), 100, 400),
                    ("redis GET -P 1, per request",
                     lambda n: redis_requests_run(gw.ports["redis"], "bench", redis_token, n, 1),
                     2000, 8000),
                    ("redis GET -P 16, per request",
                     lambda n: redis_requests_run(gw.ports["redis"], "bench", redis_token, n, 16),
                     8000, 32000)):
                per = grind.per_unit(run_n, small, large)
                print(f"{workload:30} {name:16} {per:13.0f}", flush=True)
        finally:
            gw.stop()
    print("(callgrind Ir, user space only, all threads; two runs differenced)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=0,
                    help="seconds per pgbench run (default 10, --quick 3)")
    ap.add_argument("--redis-requests", type=int, default=0,
                    help="redis-benchmark requests per run (default 200000, --quick 50000)")
    ap.add_argument("--relays", default="",
                    help="comma list of relays to compare besides cloakroom (pgbouncer-session, "
                         "pgbouncer-transaction, haproxy, nutcracker); default: all installed")
    ap.add_argument("--baseline-bin", default="",
                    help="another cloakroom binary (e.g. before a change), measured as the "
                         "candidate cloakroom-base in the same rounds")
    ap.add_argument("--serve-args", default="",
                    help="extra arguments of `serve` for --bin, e.g. \"--db-relay-threads 0\"")
    ap.add_argument("--baseline-serve-args", default="",
                    help="extra arguments of `serve` for --baseline-bin (a paired run of one "
                         "binary with a switch: --baseline-bin set to --bin)")
    ap.add_argument("--syscalls", action="store_true",
                    help="only count the gateway's system calls per pgbench -S transaction and "
                         "per redis GET, by name, no throughput rounds")
    ap.add_argument("--instructions", action="store_true",
                    help="only count the user-space instructions per pgbench -S transaction and per "
                         "redis GET of cloakroom (and --baseline-bin) under callgrind")
    args = ap.parse_args()
    seconds = 3 if args.quick else 10
    rounds = 1 if args.quick else args.rounds
    redis_requests = 50000 if args.quick else 200000
    seconds = args.seconds or seconds
    redis_requests = args.redis_requests or redis_requests

    root = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-bench-db-", dir="/tmp"))
    os.chmod(root, 0o755)
    pg = Postgres(root)
    redis = Redis(root)
    gw = None
    relays = []
    try:
        pg.start()
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", str(pg.port),
                        "-U", "bench", "bench"], check=True, capture_output=True,
                       env={**os.environ, "PGPASSWORD": pg.password})
        redis.start()
        if args.instructions:
            return count_instructions(args, root, pg, redis)
        gw = Cloakroom(args.bin, root, pg, redis, serve_args=args.serve_args.split()).start()
        pg_token = gw.mint("--db", "pg", "--db-login", "bench", "--db-name", "bench")
        redis_token = gw.mint("--db", "redis", "--db-login", "bench")
        if args.baseline_bin:
            base = Cloakroom(args.baseline_bin, root, pg, redis, "cloakroom-base",
                             serve_args=args.baseline_serve_args.split()).start()
            relays.append(base)

        wanted = set(args.relays.split(",")) if args.relays else None
        def want(name, binary):
            if wanted is not None and name not in wanted:
                return False
            if shutil.which(binary) is None:
                print(f"bench/db: {name} skipped: {binary} is not installed (bench/setup)")
                return False
            return True
        # (name, port, user, password, pid or None for direct)
        pg_cands = [("direct", pg.port, "bench", pg.password, None),
                    ("cloakroom", gw.ports["pg"], "bench", pg_token, gw.proc.pid)]
        redis_cands = [("direct", redis.port, "bench", redis.password, None),
                       ("cloakroom", gw.ports["redis"], "bench", redis_token, gw.proc.pid)]
        if args.baseline_bin:
            pg_cands.append(("cloakroom-base", base.ports["pg"], "bench",
                             base.mint("--db", "pg", "--db-login", "bench", "--db-name", "bench"),
                             base.proc.pid))
            redis_cands.append(("cloakroom-base", base.ports["redis"], "bench",
                                base.mint("--db", "redis", "--db-login", "bench"),
                                base.proc.pid))
        for mode in ("session", "transaction"):
            if want(f"pgbouncer-{mode}", "pgbouncer"):
                relays.append(PgBouncer(root, pg, mode).start())
                pg_cands.append((relays[-1].name, relays[-1].ports["pg"], "bench", pg.password,
                                 relays[-1].pid))
        if want("haproxy", "haproxy"):
            relays.append(HaproxyTcp(root, pg, redis).start())
            pg_cands.append(("haproxy", relays[-1].ports["pg"], "bench", pg.password,
                             relays[-1].pid))
            redis_cands.append(("haproxy", relays[-1].ports["redis"], "bench", redis.password,
                                relays[-1].pid))
        if want("nutcracker", "nutcracker"):
            relays.append(Nutcracker(root, redis).start())
            redis_cands.append(("nutcracker", relays[-1].ports["redis"], None,
                                redis.default_password, relays[-1].pid))

        if args.syscalls:
            print(f"{'workload':30} {'relay':22} {'syscalls':>9}  (by name)")
            for workload, cands, run in (
                    ("pgbench -S, per transaction", pg_cands,
                     lambda c: pgbench_transactions(c[1], c[3], c[2], 2000)),
                    ("redis GET -P 1, per request", redis_cands,
                     lambda c: redis_requests_run(c[1], c[2], c[3], 20000, 1)),
                    ("redis GET -P 16, per request", redis_cands,
                     lambda c: redis_requests_run(c[1], c[2], c[3], 100000, 16))):
                for cand in cands:
                    if cand[4] is None:
                        continue
                    per = syscalls_per_unit(cand[4], lambda: run(cand))
                    total = per.pop("total", 0.0)
                    top = ", ".join(f"{k} {v:.2f}" for k, v in
                                    sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.01)
                    print(f"{workload:30} {cand[0]:22} {total:9.2f}  ({top})", flush=True)
            print(f"(counted with {'perf stat' if SyscallCounter.use_perf else 'strace -c'})")
            return 0

        results = {}
        def add(name, kind, value):
            results.setdefault(name, {}).setdefault(kind, []).append(value)
        def cpu_of(pid):
            return proc_cpu_seconds(pid) if pid else 0.0
        def measured(pid, work):
            """Runs work() -> (units, {row: value}); adds relay CPU and syscalls per unit."""
            if not pid:
                return work()[1], None, None, None
            cpu0 = cpu_of(pid)
            switches0 = proc_context_switches(pid)
            with SyscallCounter(pid) as counter:
                units, values = work()
            per = counter.per(units)
            switches = (proc_context_switches(pid) - switches0) / units
            return values, (cpu_of(pid) - cpu0) * 1e6 / units, per.get("total"), switches

        workloads = []  # (row, unit) in the order they ran
        for r in range(rounds):
            for select_only, name in ((True, "pgbench -S"), (False, "pgbench TPC-B")):
                # A different candidate goes first each round, so drift hits all alike.
                shift = r % len(pg_cands)
                for kind, port, user, password, pid in pg_cands[shift:] + pg_cands[:shift]:
                    def work():
                        tps = pgbench(port, password, user, seconds, select_only)
                        return tps * seconds, {name: tps}
                    values, cpu, calls, switches = measured(pid, work)
                    for row, v in values.items():
                        add(row, kind, v)
                    if (name, "transaction") not in workloads:
                        workloads.append((name, "transaction"))
                    if cpu is not None:
                        add(name + " | CPU", kind, cpu)
                        add(name + " | syscalls", kind, calls)
                        add(name + " | switches", kind, switches)
            for pipeline in (1, 16):
                shift = r % len(redis_cands)
                name = f"redis -P {pipeline}"
                # Pipelined runs are ~10x faster: 8x the requests keeps them seconds long, not a
                # fraction of a second that one scheduling hiccup decides.
                requests = redis_requests * (8 if pipeline > 1 else 1)
                for kind, port, user, password, pid in redis_cands[shift:] + redis_cands[:shift]:
                    def work():
                        rps = redis_benchmark(port, user, password, requests, pipeline)
                        return 2 * requests, {f"{name}, {op}": v for op, v in rps.items()}
                    values, cpu, calls, switches = measured(pid, work)
                    for row, v in values.items():
                        add(row, kind, v)
                    if (name, "request") not in workloads:
                        workloads.append((name, "request"))
                    if cpu is not None:
                        add(name + " | CPU", kind, cpu)
                        add(name + " | syscalls", kind, calls)
                        add(name + " | switches", kind, switches)

        names = [c[0] for c in pg_cands] + [c[0] for c in redis_cands if c[0] not in
                                           [p[0] for p in pg_cands]]
        relays_only = [n for n in names if n != "direct"]
        med = lambda row, n: (statistics.median(results[row][n])
                              if row in results and n in results[row] else None)
        width = max(16, *(len(n) + 2 for n in names))

        print("\nThroughput, ratio to direct (direct: TPS or requests/s)")
        print(f"{'workload':22}" + "".join(f"{n:>{width}}" for n in names))
        for row in results:
            if " | " in row:
                continue
            direct = med(row, "direct")
            cells = []
            for n in names:
                v = med(row, n)
                if v is None:
                    cells.append(f"{'-':>{width}}")
                elif n == "direct":
                    cells.append(f"{v:>{width}.0f}")
                else:
                    cells.append(f"{v / direct:>{width}.3f}")
            print(f"{row:22}" + "".join(cells))
        for what, label, fmt in (("CPU", "relay CPU, us per", ".1f"),
                                 ("syscalls", "relay system calls per", ".2f"),
                                 ("switches", "relay context switches (all threads) per",
                                  ".3f")):
            print(f"\n{label} transaction / request (GET and SET)")
            print(f"{'workload':22}" + "".join(f"{n:>{width}}" for n in relays_only))
            for name, unit in workloads:
                row = f"{name} | {what}"
                cells = []
                for n in relays_only:
                    v = med(row, n)
                    cells.append(f"{'-':>{width}}" if v is None else f"{v:>{width}{fmt}}")
                print(f"{name:22}" + "".join(cells))
        print(f"\n(median of {rounds} round(s), {seconds}s per pgbench run (8 clients, -j 2, "
              f"scale 10), {redis_requests} redis requests per run, {8 * redis_requests} with -P 16 "
              "(50 clients, GET and SET); "
              "relay CPU from /proc (user+system, all threads); system calls counted with "
              f"{'perf stat' if SyscallCounter.use_perf else 'strace -c (slows the relays down)'} "
              "in the same runs)")
        for name, kinds in results.items():
            print(json.dumps({"workload": name, **kinds}))
    finally:
        for relay in relays:
            relay.stop()
        if gw:
            gw.stop()
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
