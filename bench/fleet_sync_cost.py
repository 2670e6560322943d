#!/usr/bin/env python3
"""What fleet mode's sync rounds cost outside the request path (issue #18), load-independently.

Starts the harness's `cloakroom-fleet` candidate (every limit on, [fleet] on a loopback
redis-server), sends paced keep-alive requests through it (RATE per second on one connection, so
every 100 ms round has budget counts to push), and over a window of SECONDS reports per second:
  * redis-server: CPU time (utime + stime from /proc), and the commands and the microseconds
    Redis itself accounts to them (INFO commandstats, after CONFIG RESETSTAT), bytes received;
  * the gateway's fleet thread (found as the thread that sends to Redis): syscalls (strace -c on
    that thread only) and wake-ups (context switches from /proc/<pid>/task/<tid>/status).
With --baseline-bin the same is measured for another binary, same workload, one after the other.

  python3 bench/fleet_sync_cost.py --bin build/cloakroom [--baseline-bin OLD] [--seconds 10]
                                   [--expired-tokens N]
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path):
    fields = pathlib.Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def switches(tid_dir):
    text = (tid_dir / "status").read_text()
    return sum(int(m) for m in re.findall(r"ctxt_switches:\s+(\d+)", text))


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=30).stdout


def commandstats(port):
    calls, usec = {}, {}
    for line in redis_cli(port, "INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_(\w+):calls=(\d+),usec=(\d+)", line)
        if m:
            calls[m.group(1)], usec[m.group(1)] = int(m.group(2)), int(m.group(3))
    return calls, usec


def net_bytes(port):
    """Bytes Redis received and sent."""
    text = redis_cli(port, "INFO", "stats")
    return tuple(int(m.group(1)) if (m := re.search(rf"total_net_{d}_bytes:(\d+)", text)) else 0
                 for d in ("input", "output"))


def fleet_thread(pid, redis_port):
    """The thread that talks to Redis: the one sending on a socket connected to its port
    (strace -yy names each descriptor's peer)."""
    p = subprocess.run(["timeout", "2", "strace", "-f", "-qq", "-yy", "-p", str(pid), "-e",
                        "trace=sendto,write"], capture_output=True, text=True, timeout=30)
    tids = re.findall(r"^\[pid\s+(\d+)\] (?:sendto|write)\(\d+<TCP:\[[^\]]*->127\.0\.0\.1:"
                      + str(redis_port) + r"\]>", p.stderr, re.M)
    if not tids:
        raise RuntimeError("no thread of the gateway talks to Redis:\n" + p.stderr[-2000:])
    return max(set(tids), key=tids.count)


class Load:
    """RATE requests per second on one kept-alive connection through the forward proxy."""

    def __init__(self, cand, rate):
        self.cand, self.rate, self.sent, self.errors = cand, rate, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def session(self):
        s = requests.Session()
        s.trust_env = False
        s.proxies = {"https": f"http://127.0.0.1:{self.cand.port}"}
        s.verify = str(self.cand.dir / "data" / "ca" / "ca.pem")
        return s

    def run(self):
        s = self.session()
        headers = {"Authorization": f"Bearer {self.cand.tools['token']}"}
        start = time.monotonic()
        while not self.stop.is_set():
            r = s.get(f"https://{harness.HOST}/1k", headers=headers, timeout=10)
            self.sent += 1
            self.errors += r.status_code != 200
            delay = start + self.sent / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def measure(binary, work, pki, upstream, opts):
    tools = {"cloakroom": str(binary), "token": "acm_placeholder"}
    work.mkdir()
    c = harness.CloakroomFleet(work, pki, upstream, tools)
    c.try_reverse = False
    c.start()
    try:
        tools["token"] = c.mint()
        load = Load(c, opts.rate)
        if opts.expired_tokens:
            # Budget entries of tokens that have expired since (a gateway that has run for a
            # while has seen many): whether every round still reads their counts.
            cfg = c.dir / "cloakroom.toml"
            session = load.session()
            for _ in range(opts.expired_tokens):
                p = subprocess.run([str(binary), "--config", str(cfg), "mint", "--hosts",
                                    harness.HOST, "--valid-for", "3s"], env=c.env,
                                   capture_output=True, text=True, timeout=60)
                r = session.get(f"https://{harness.HOST}/1k", timeout=10,
                                headers={"Authorization": "Bearer " + p.stdout.strip()})
                assert r.status_code == 200, r.text
            time.sleep(4)
        load.thread.start()
        time.sleep(2)  # warm: the budget keys exist, the connection is up
        pid, rport = c.proc.pid, c.redis_port
        tid = fleet_thread(pid, rport)
        tid_dir = pathlib.Path(f"/proc/{pid}/task/{tid}")
        redis_cli(rport, "CONFIG", "RESETSTAT")
        # Window 1, nothing attached: CPU, Redis's figures, wake-ups.
        r0, t0 = cpu_seconds(f"/proc/{c.redis.pid}/stat"), cpu_seconds(tid_dir / "stat")
        s0, n0, sent0, w0 = switches(tid_dir), net_bytes(rport), load.sent, time.monotonic()
        time.sleep(opts.seconds)
        elapsed = time.monotonic() - w0
        r1, t1 = cpu_seconds(f"/proc/{c.redis.pid}/stat"), cpu_seconds(tid_dir / "stat")
        s1, n1, sent1 = switches(tid_dir), net_bytes(rport), load.sent
        calls, usec = commandstats(rport)
        # Window 2: the fleet thread's syscalls (strace slows the thread, so rounds are counted
        # in this window too: Redis's LLEN calls).
        redis_cli(rport, "CONFIG", "RESETSTAT")
        w2 = time.monotonic()
        trace = subprocess.run(["timeout", "-s", "INT", str(opts.seconds), "strace", "-c", "-qq",
                                "-p", tid], capture_output=True, text=True,
                               timeout=opts.seconds + 30)
        traced_rounds = commandstats(rport)[0].get("llen", 0)
        elapsed2 = time.monotonic() - w2
        load.stop.set()
        load.thread.join()
        m = re.search(r"^-+.*\n\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*total", trace.stderr, re.M)
        syscalls = int(m.group(1)) if m else -1
        per = {k: v / elapsed for k, v in calls.items() if k not in ("config", "info")}
        rounds = per.get("llen", 0)  # every round asks for the revocation list's length once
        redis_usec = sum(v for k, v in usec.items() if k not in ("config", "info")) / elapsed
        return {
            "rounds/s": rounds,
            "requests/s": (sent1 - sent0) / elapsed,
            "errors": load.errors,
            "redis CPU ms/s": 1000 * (r1 - r0) / elapsed,
            "redis usec/s (commandstats)": redis_usec,
            "redis commands/s": sum(per.values()),
            "redis bytes in/s": (n1[0] - n0[0]) / elapsed,
            "redis bytes out/s": (n1[1] - n0[1]) / elapsed,
            "fleet thread syscalls/s (window 2)": syscalls / elapsed2,
            "fleet thread wake-ups/s": (s1 - s0) / elapsed,
            "fleet thread CPU ms/s": 1000 * (t1 - t0) / elapsed,
            "per round: redis CPU us": 1e6 * (r1 - r0) / elapsed / rounds,
            "per round: redis usec (commandstats)": redis_usec / rounds,
            "per round: redis commands": sum(per.values()) / rounds,
            "per round: redis bytes in": (n1[0] - n0[0]) / elapsed / rounds,
            "per round: redis bytes out": (n1[1] - n0[1]) / elapsed / rounds,
            "per round: mget usec": usec.get("mget", 0) / elapsed / rounds,
            "per round: fleet thread syscalls": syscalls / max(traced_rounds, 1),
            "per round: fleet thread wake-ups": (s1 - s0) / elapsed / rounds,
            "commands": {k: round(v, 1) for k, v in sorted(per.items())},
            "syscall table": trace.stderr.strip(),
        }
    finally:
        c.stop()
        if c.redis:
            harness.stop(c.redis)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--baseline-bin")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second")
    ap.add_argument("--show-syscalls", action="store_true")
    ap.add_argument("--expired-tokens", type=int, default=0,
                    help="first use this many tokens valid for 3 s, and let them expire")
    opts = ap.parse_args()
    for tool in ("strace", "redis-server", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing (scripts/setup-e2e, bench/setup)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-fleetcost-"))
    os.chmod(work, 0o755)
    results = {}
    try:
        pki = harness.make_pki(work / "pki")
        upstream = harness.Upstream(work, pki).setup().start()
        runs = [("this", opts.bin)] + ([("baseline", opts.baseline_bin)] if opts.baseline_bin else [])
        for label, binary in runs:
            harness.log(f"{label}: {binary}")
            results[label] = measure(pathlib.Path(binary).resolve(), work / label, pki, upstream,
                                     opts)
        upstream.stop()
    finally:
        harness.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    labels = list(results)
    print(f"\n{'per second':<42}" + "".join(f"{lab:>14}" for lab in labels))
    for key in results[labels[0]]:
        if key in ("commands", "syscall table"):
            continue
        print(f"{key:<42}" + "".join(f"{results[lab][key]:>14.1f}" for lab in labels))
    for lab in labels:
        print(f"\n{lab}: commands/s {results[lab]['commands']}")
        if opts.show_syscalls:
            print(results[lab]["syscall table"])


if __name__ == "__main__":
    main()
