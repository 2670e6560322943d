#!/usr/bin/env python3
"""Instructions per request of Cloakroom's forward proxy, counted by callgrind (bench/README.md).

One fixed workload, independent of how loaded the machine is: the bench upstream and `cloakroom
serve` under `valgrind --tool=callgrind` are set up as bench/harness.py does, then
cloakroom_loadgen drives one connection (CONNECT, intercepted TLS 1.3, HTTP/1.1 keep-alive, 1 KiB
responses, or 100 KiB ones with --body-kib 100) through it. The counters are zeroed and dumped around each run (vgdb), so
start-up is not counted:

  short   one connection, N1 requests      (one handshake + N1 requests)
  long    one connection, N2 requests      (one handshake + N2 requests)
  conns   H new connections, 1 request each (--new-conn)

  instructions per keep-alive request = (long - short) / (N2 - N1)
  instructions per handshake          = conns / H - per request  (TCP accept + CONNECT + TLS)

The dump files are kept (their paths are printed) for callgrind_annotate --inclusive=yes.

--strace counts system calls instead: the gateway runs under `strace -f -c` twice, once per run
length (warm-up + N1, then warm-up + N2 requests; start-up and shutdown cancel out), and

  syscalls per keep-alive request = (calls of the N2 gateway - calls of the N1 one) / (N2 - N1)
"""
import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402




def serve_wrapped(cr, tools, cfg, logf, wrap, threads):
    """Starts `cloakroom serve` under `wrap` (valgrind), waits for its port (valgrind starts
    slowly), mints the bench token into tools["token"] and returns the gateway's pid."""
    cr.proc = harness.spawn("cloakroom", [*wrap.split(), tools["cloakroom"], "--config", str(cfg),
                                          "serve", "--threads", str(threads)], logf, env=cr.env)
    deadline = time.monotonic() + 180
    while True:
        m = cr.LISTEN_RE.search(logf.read_text(errors="replace"))
        if m:
            cr.port = int(m.group(1))
            break
        if cr.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("cloakroom serve did not start")
        time.sleep(0.1)
    tools["token"] = cr.mint()
    # A secret file younger than 2 s is read afresh per request (the resolver's settle rule).
    time.sleep(2.5)
    return cr.proc.pid

def vgdb_control(pid, command):
    """Sends a callgrind command ("zero", "dump") to process `pid` by vgdb itself:
    callgrind_control picks processes by name, and other valgrind runs on the machine (or the
    gateway's forked helpers) may share it. vgdb may give up on a process that is slow to reach
    a poll point: retried."""
    for _ in range(10):
        p = subprocess.run(["vgdb", f"--pid={pid}", command], capture_output=True, text=True,
                           timeout=120)
        if p.returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"vgdb {command} failed: {p.stdout[-300:]} {p.stderr[-300:]}")

def totals(path):
    for line in pathlib.Path(path).read_text(errors="replace").splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=str(harness.ROOT / "build-bench"))
    ap.add_argument("--cloakroom", default="", help="the gateway binary (default: BIN_DIR/cloakroom)")
    ap.add_argument("--loadgen", default="", help="the load generator (default: BIN_DIR/bench/cloakroom_loadgen)")
    ap.add_argument("--short", type=int, default=50, help="N1 (default 50)")
    ap.add_argument("--long", type=int, default=450, help="N2 (default 450)")
    ap.add_argument("--conns", type=int, default=40, help="H (default 40, 0 skips)")
    ap.add_argument("--threads", default="1", help="cloakroom serve --threads (default 1)")
    ap.add_argument("--body-kib", type=int, choices=(1, 100), default=1,
                    help="response body size: the upstream's /1k or /100k (default 1)")
    ap.add_argument("--strace", action="store_true",
                    help="count system calls per request (strace -f -c) instead of instructions")
    ap.add_argument("--out", default="", help="directory for the callgrind dumps (default: a temp dir)")
    ap.add_argument("--valgrind-args", default="", help="extra valgrind arguments")
    opts = ap.parse_args()
    path, size = ("/100k", harness.BIG) if opts.body_kib == 100 else ("/1k", harness.SMALL)
    if opts.strace:
        return strace_main(opts, path, size)

    bindir = pathlib.Path(opts.bin_dir)
    tools = {"cloakroom": opts.cloakroom or str(bindir / "cloakroom"),
             "loadgen": opts.loadgen or str(bindir / "bench" / "cloakroom_loadgen")}
    out = pathlib.Path(opts.out or tempfile.mkdtemp(prefix="cloakroom-cg-"))
    out.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-cgbench-"))
    os.chmod(work, 0o755)
    try:
        pki = harness.make_pki(work / "pki")
        upstream = harness.Upstream(work, pki).setup().start()
        # %p: `cloakroom serve` forks helpers that valgrind follows; each writes its own files.
        cg_file = out / "cg.out.%p"
        for old in out.glob("cg.out*"):
            old.unlink()
        os.environ["CLOAKROOM_BENCH_WRAP"] = (f"valgrind --tool=callgrind --callgrind-out-file={cg_file} "
                                              f"{opts.valgrind_args}")
        cr = harness.Cloakroom(work, pki, upstream, tools)
        cr.try_reverse = False
        # As Cloakroom._start, with more patience: valgrind start-up on a loaded machine may
        # outlast the harness's 15 s.
        cfg = cr.dir / "cloakroom.toml"
        cfg.write_text(cr.config_text(False))
        logf = cr.dir / "serve.log"
        pid = serve_wrapped(cr, tools, cfg, logf, os.environ["CLOAKROOM_BENCH_WRAP"], opts.threads)

        def load(n, extra=()):
            res = harness.run_loadgen(tools, cr, [
                *cr.target(path), "-H", cr.auth_header(), "-c", "1", "-t", "1", "--requests", str(n),
                "--expect-status", "200", "--expect-size", str(size),
                "--expect-header", "X-Auth-Check: bearer-ok", *extra], timeout=600)
            if res["exit"] != 0 or res.get("errors"):
                raise RuntimeError(f"loadgen failed: {res.get('error_samples')} {res['stderr'][-500:]}")

        def ctl(command):
            vgdb_control(pid, command)

        dumps = []

        def measured(n, extra=()):
            ctl("zero")
            load(n, extra)
            time.sleep(0.3)  # let the gateway finish the connection's teardown
            ctl("dump")
            files = sorted(out.glob(f"cg.out.{pid}.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
            dumps.append(files[-1])
            return totals(files[-1])

        load(20)  # warm-up: leaf minted, upstream pool filled, allocator warm
        short = measured(opts.short)
        long_ = measured(opts.long)
        per_req = (long_ - short) / (opts.long - opts.short)
        print(f"short  ({opts.short} req, 1 conn): {short:,} Ir  [{dumps[0]}]")
        print(f"long   ({opts.long} req, 1 conn): {long_:,} Ir  [{dumps[1]}]")
        print(f"instructions per keep-alive request: {per_req:,.0f}")
        print(f"one connection's fixed cost (accept, CONNECT, TLS, close): {short - opts.short * per_req:,.0f}")
        if opts.conns > 0:
            conns = measured(opts.conns, ["--new-conn"])
            print(f"conns  ({opts.conns} new connections, 1 req each): {conns:,} Ir  [{dumps[2]}]")
            print(f"instructions per new connection incl. 1 request: {conns / opts.conns:,.0f}")
            print(f"instructions per handshake (minus the request): {conns / opts.conns - per_req:,.0f}")
        print(f"dumps in {out}")
        return 0
    except Exception:
        log = work / "cloakroom" / "serve.log"
        if log.exists():
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        harness.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def strace_counts(summary):
    """{syscall: calls} from an `strace -c` summary file."""
    counts = {}
    for line in pathlib.Path(summary).read_text(errors="replace").splitlines():
        cols = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(cols) >= 5 and cols[3].isdigit() and not cols[-1].startswith("total"):
            counts[cols[-1]] = int(cols[3])
    return counts


def strace_main(opts, path, size):
    bindir = pathlib.Path(opts.bin_dir)
    tools = {"cloakroom": opts.cloakroom or str(bindir / "cloakroom"),
             "loadgen": opts.loadgen or str(bindir / "bench" / "cloakroom_loadgen")}
    work = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-stbench-"))
    os.chmod(work, 0o755)
    try:
        pki = harness.make_pki(work / "pki")
        upstream = harness.Upstream(work, pki).setup().start()
        runs = {}
        for n in (opts.short, opts.long):
            summary = work / f"strace.{n}"
            os.environ["CLOAKROOM_BENCH_WRAP"] = f"strace -f -c -o {summary}"
            os.environ["CLOAKROOM_BENCH_SERVE_ARGS"] = f"--threads {opts.threads}"
            cr = harness.Cloakroom(work, pki, upstream, tools)
            cr.try_reverse = False
            cr.start()
            tools["token"] = cr.mint()
            time.sleep(2.5)  # as above: the secret file settles
            for requests in (20, n):
                res = harness.run_loadgen(tools, cr, [
                    *cr.target(path), "-H", cr.auth_header(), "-c", "1", "-t", "1", "--requests",
                    str(requests), "--expect-status", "200", "--expect-size", str(size),
                    "--expect-header", "X-Auth-Check: bearer-ok"], timeout=600)
                if res["exit"] != 0 or res.get("errors"):
                    raise RuntimeError(f"loadgen failed: {res.get('error_samples')}")
            time.sleep(0.3)
            # SIGTERM to the gateway (strace's child): strace writes the summary when it exits.
            gateway = harness.children(cr.proc.pid)
            for pid in gateway:
                os.kill(pid, signal.SIGTERM)
            cr.proc.wait(timeout=60)
            runs[n] = strace_counts(summary)
        short, long_ = runs[opts.short], runs[opts.long]
        span = opts.long - opts.short
        names = sorted(set(short) | set(long_), key=lambda k: -(long_.get(k, 0) - short.get(k, 0)))
        total = 0.0
        for name in names:
            per = (long_.get(name, 0) - short.get(name, 0)) / span
            total += per
            if abs(per) >= 0.005:
                print(f"  {name:20} {per:8.2f} per request")
        print(f"syscalls per keep-alive request ({size} B body): {total:.2f}")
        return 0
    finally:
        harness.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
