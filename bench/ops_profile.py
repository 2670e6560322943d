#!/usr/bin/env python3
"""Instruction counts per request of revocation + limits, locally and in fleet mode (issue #16).

bench/run's req/s and CPU columns move with whatever else the machine runs; instruction counts
under callgrind do not. This runs the harness's `cloakroom`, `cloakroom-limits` and
`cloakroom-fleet` candidates one at a time under `valgrind --tool=callgrind`, sends WARMUP
requests on one kept-alive connection, zeroes the counters, sends REQUESTS more on a new
connection and dumps. Per request = (instructions in that window - TLS handshakes (the new
connection's, and any upstream connection re-dialled) - the fleet thread's rounds) / REQUESTS,
over every thread of the gateway. The fleet thread works per 100 ms round, not per request, so
it is reported apart, in instructions per second with and without requests: spread over a real
request rate it is a small share per request; under callgrind's slow one it would look large.

  python3 bench/ops_profile.py --bin-dir build-bench [--requests 1000] [--keep]
(bench/README.md, "Revocation and limits: instruction counts").
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402


def total_ir(path):
    text = pathlib.Path(path).read_text(errors="replace")
    m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def inclusive(path, pattern):
    """The largest inclusive count of a function whose name contains `pattern` (one function is
    listed once per source file its code came from)."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
                       capture_output=True, text=True, timeout=600)
    best = 0
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+) \(", line)
        if m and pattern in line:
            best = max(best, int(m.group(1).replace(",", "")))
    return best


def dump(pid, out_dir, before):
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, timeout=300)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = sorted(set(out_dir.glob(f"cg-{pid}.out.*")) - before, key=os.path.getmtime)
        if new and total_ir(new[-1]):
            return new[-1]
        time.sleep(0.5)
    raise RuntimeError(f"no callgrind dump from {pid}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--only", default="cloakroom,cloakroom-limits,cloakroom-fleet")
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()
    bindir = pathlib.Path(opts.bin_dir)
    tools = {"cloakroom": str(bindir / "cloakroom"), "loadgen": str(bindir / "bench" / "cloakroom_loadgen")}
    work = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-opsprof-"))
    os.chmod(work, 0o755)
    cg_dir = work / "callgrind"
    cg_dir.mkdir()
    os.environ["CLOAKROOM_BENCH_WRAP"] = f"valgrind --tool=callgrind --callgrind-out-file={cg_dir}/cg-%p.out"
    classes = {c.name: c for c in (harness.Cloakroom, harness.CloakroomLimits, harness.CloakroomFleet)}
    rows = []
    try:
        pki = harness.make_pki(work / "pki")
        upstream = harness.Upstream(work, pki).setup().start()
        tools["token"] = "acm_placeholder"
        for name in opts.only.split(","):
            c = classes[name](work, pki, upstream, tools)
            c.try_reverse = False
            harness.log(f"{name}: starting under callgrind")
            c.start()
            if tools["token"] == "acm_placeholder":
                tools["token"] = c.mint()
            pid = c.proc.pid
            base = [*c.target("/1k"), "-H", c.auth_header(), "-c", "1", "-t", "1",
                    "--expect-status", "200", "--expect-size", str(harness.SMALL),
                    "--expect-header", "X-Auth-Check: bearer-ok"]
            res = harness.run_loadgen(tools, c, [*base, "--requests", str(opts.warmup)], timeout=1800)
            if res.get("errors") or res["exit"] != 0:
                raise RuntimeError(f"{name}: warm-up failed: {res.get('error_samples')} {res['stderr'][-500:]}")
            subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, timeout=300)
            before = set(cg_dir.glob(f"cg-{pid}.out.*"))
            started = time.monotonic()
            res = harness.run_loadgen(tools, c, [*base, "--requests", str(opts.requests)], timeout=3600)
            elapsed = time.monotonic() - started
            if res.get("errors") or res["exit"] != 0:
                raise RuntimeError(f"{name}: run failed: {res.get('error_samples')}")
            busy = dump(pid, cg_dir, before)
            busy_ir = total_ir(busy)
            handshakes = inclusive(busy, "TlsStream::try_handshake()")
            fleet_busy = inclusive(busy, "Fleet::run()")
            subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, timeout=300)
            before = set(cg_dir.glob(f"cg-{pid}.out.*"))
            time.sleep(opts.idle)
            idle = dump(pid, cg_dir, before)
            fleet_idle = inclusive(idle, "Fleet::run()") / opts.idle
            per_req = (busy_ir - handshakes - fleet_busy) / opts.requests
            rows.append((name, per_req, fleet_busy / elapsed, fleet_idle, busy))
            harness.log(f"{name}: {per_req:,.0f} instructions/request (raw {busy_ir / opts.requests:,.0f}; "
                        f"handshakes {handshakes:,}; fleet thread {fleet_busy / elapsed:,.0f}/s busy, "
                        f"{fleet_idle:,.0f}/s idle; {elapsed:.1f}s)")
            c.stop()
            if isinstance(c, harness.CloakroomFleet) and c.redis:
                harness.stop(c.redis)
        upstream.stop()
    finally:
        harness.stop_all()
        if opts.keep:
            harness.log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    base = dict((r[0], r[1]) for r in rows).get("cloakroom")
    print(f"\n{'candidate':<18} {'instr/request':>14} {'vs cloakroom':>13} "
          f"{'fleet thread instr/s (busy / idle)':>36}")
    for name, per_req, fleet_busy, fleet_idle, _ in rows:
        ratio = f"{per_req / base:.3f}x" if base else "-"
        print(f"{name:<18} {per_req:>14,.0f} {ratio:>13} {fleet_busy:>17,.0f} / {fleet_idle:<,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
