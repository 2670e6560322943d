#!/usr/bin/env python3
"""Instructions per POST to an HTTP/2 upstream, counted by callgrind (bench/README.md).

The request-body path of an HTTP/1.1 agent's exchange over an upstream HTTP/2 stream
(src/proxy/upstream_h2_exchange.hpp), independent of how loaded the machine is: `cloakroom serve`
under `valgrind --tool=callgrind` in front of nghttpd (TLS, ALPN h2 only), and one curl
(--http1.1, keep-alive through the forward proxy) sending N POSTs of --body-kib KiB each. The
counters are zeroed and dumped around each run (vgdb), so start-up is not counted:

  instructions per POST = (run of N2 POSTs - run of N1 POSTs) / (N2 - N1)

(each run is one curl: one CONNECT and TLS handshake, which the subtraction removes).

    python3 bench/callgrind_h2_post.py [--bin-dir build-bench] [--body-kib 32]
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402
from callgrind_request import serve_wrapped, totals, vgdb_control  # noqa: E402


class NghttpdUpstream:
    """nghttpd serving /ok (a few bytes) to whatever is POSTed to it."""

    def __init__(self, work, pki):
        self.dir = work / "nghttpd"
        (self.dir / "htdocs").mkdir(parents=True)
        (self.dir / "htdocs" / "ok").write_bytes(b"ok\n")
        self.port = harness.free_port()
        self.proc = harness.spawn("nghttpd", [
            "nghttpd", "-d", str(self.dir / "htdocs"), "--address=127.0.0.1", str(self.port),
            str(pki / "upstream.key"), str(pki / "upstream.pem")], self.dir / "log")
        harness.wait_port(self.port, self.proc, what="nghttpd")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=str(harness.ROOT / "build-bench"))
    ap.add_argument("--cloakroom", default="", help="the gateway binary (default: BIN_DIR/cloakroom)")
    ap.add_argument("--body-kib", type=int, default=32, help="POST body size (default 32 KiB)")
    ap.add_argument("--short", type=int, default=10, help="N1 (default 10)")
    ap.add_argument("--long", type=int, default=60, help="N2 (default 60)")
    ap.add_argument("--out", default="", help="directory for the callgrind dumps (default: a temp dir)")
    opts = ap.parse_args()

    tools = {"cloakroom": opts.cloakroom or str(pathlib.Path(opts.bin_dir) / "cloakroom")}
    out = pathlib.Path(opts.out or tempfile.mkdtemp(prefix="cloakroom-cgpost-"))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("cg.out*"):
        old.unlink()
    work = pathlib.Path(tempfile.mkdtemp(prefix="cloakroom-cgpostbench-"))
    os.chmod(work, 0o755)
    try:
        pki = harness.make_pki(work / "pki")
        upstream = NghttpdUpstream(work, pki)
        body = work / "body"
        body.write_bytes(os.urandom(opts.body_kib * 1024))
        wrap = f"valgrind --tool=callgrind --callgrind-out-file={out / 'cg.out.%p'}"
        cr = harness.Cloakroom(work, pki, upstream, tools)
        cr.try_reverse = False
        cfg = cr.dir / "cloakroom.toml"
        cfg.write_text(cr.config_text(False))
        logf = cr.dir / "serve.log"
        pid = serve_wrapped(cr, tools, cfg, logf, wrap, 1)

        def posts(n):
            url = f"https://{harness.HOST}/ok"
            p = subprocess.run(
                ["curl", "-sS", "--http1.1", *(["-o", "/dev/null"] * n), "-w", "%{http_code}\n",
                 "--proxy", f"127.0.0.1:{cr.port}", "--cacert", str(cr.dir / "data" / "ca" / "ca.pem"),
                 "-H", cr.auth_header(), "-H", "Content-Type: application/octet-stream",
                 "--data-binary", f"@{body}", *([url] * n)],
                capture_output=True, text=True, timeout=600)
            codes = p.stdout.split()
            if p.returncode != 0 or codes != ["200"] * n:
                raise RuntimeError(f"curl failed: {p.returncode} {codes[:5]} {p.stderr[-500:]}")

        def ctl(command):
            vgdb_control(pid, command)

        dumps = []

        def measured(n):
            ctl("zero")
            posts(n)
            time.sleep(0.3)
            ctl("dump")
            files = sorted(out.glob(f"cg.out.{pid}.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
            dumps.append(files[-1])
            return totals(files[-1])

        posts(5)  # warm-up: leaf minted, upstream connection up
        short = measured(opts.short)
        long_ = measured(opts.long)
        print(f"short  ({opts.short} POSTs of {opts.body_kib} KiB): {short:,} Ir  [{dumps[0]}]")
        print(f"long   ({opts.long} POSTs of {opts.body_kib} KiB): {long_:,} Ir  [{dumps[1]}]")
        print(f"instructions per POST ({opts.body_kib} KiB body, HTTP/2 upstream): "
              f"{(long_ - short) / (opts.long - opts.short):,.0f}")
        return 0
    except Exception:
        log = work / "cloakroom" / "serve.log"
        if log.exists():
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        harness.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
