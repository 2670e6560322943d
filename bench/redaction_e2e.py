#!/usr/bin/env python3
"""End-to-end cost of response redaction (issue 15, docs/redaction.md; not CI): the gateway's CPU
time for 10 MB JSON responses through an intercepted HTTPS connection (curl --http1.1), on a
service with a bearer credential (redacted with every derived form) and on one without
(relayed untouched), plain and gzip. CPU is read from /proc for the gateway process only, so the
figure does not depend on the client or the upstream sharing the machine.

    CLOAKROOM_BIN=$PWD/build/cloakroom /usr/bin/python3 bench/redaction_e2e.py [rounds]

With --instructions the gateway runs under callgrind instead and the figure is its instruction
count per response (zeroed and dumped around each case through vgdb), which does not depend on
how loaded the machine is:

    CLOAKROOM_BIN=$PWD/build-bench/cloakroom python3 bench/redaction_e2e.py 3 --instructions
"""
import os
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e" / "gateway"))

import gwlib  # noqa: E402
import upstreams  # noqa: E402


def cpu_seconds(pid):
    """CPU time of every thread of `pid`, in nanosecond resolution (schedstat), as seconds."""
    total = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended
    return total / 1e9


def callgrind_wrapper(base):
    """A CLOAKROOM_BIN that runs `serve` under callgrind (mint and the rest as they are)."""
    real = os.environ.get("CLOAKROOM_BIN") or str(HERE.parent / "build" / "cloakroom")
    dumps = base / "callgrind"
    dumps.mkdir()
    wrapper = base / "cloakroom-callgrind"
    wrapper.write_text(f"""#!/bin/sh
for a in "$@"; do
  if [ "$a" = serve ]; then
    exec valgrind --tool=callgrind --callgrind-out-file={dumps}/cg.out.%p {real} "$@"
  fi
done
exec {real} "$@"
""")
    wrapper.chmod(0o755)
    return wrapper, dumps


class Instructions:
    """Instruction counts of the gateway between zero() and dump() (vgdb)."""

    def __init__(self, pid, dumps):
        self.pid, self.dumps = pid, dumps

    def _ctl(self, command):
        from callgrind_request import vgdb_control  # only for --instructions
        vgdb_control(self.pid, command)

    def zero(self):
        self._ctl("zero")

    def dump(self):
        time.sleep(0.3)  # the last response's connection teardown
        self._ctl("dump")
        files = sorted(self.dumps.glob(f"cg.out.{self.pid}.*"),
                       key=lambda f: int(f.name.rsplit(".", 1)[1]))
        for line in files[-1].read_text(errors="replace").splitlines():
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1]), files[-1]
        raise RuntimeError(f"no totals in {files[-1]}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    instructions = "--instructions" in sys.argv[1:]
    rounds = int(args[0]) if args else 10
    base = pathlib.Path(tempfile.mkdtemp(prefix="redaction-bench-"))
    os.chmod(base, 0o755)
    if instructions:
        wrapper, dumps = callgrind_wrapper(base)
        gwlib.BIN = str(wrapper)
        gwlib.Gateway.start.__defaults__ = (180,)  # valgrind starts slowly
    pki = upstreams.make_pki(base / "pki")
    (base / "nginx").mkdir()
    nginx = upstreams.NginxUpstream(base / "nginx", pki, gwlib.SECRETS)
    nginx.start()
    py = upstreams.PyUpstream(pki).start()
    factory = gwlib.GatewayFactory(base / "gateways", pki, nginx, py, None)
    factory.base.mkdir()
    extra = f"""
[[service]]
name = "bare"
hosts = ["other.example.com"]
connect_to = {gwlib.toml_str(f"127.0.0.1:{py.port}")}
upstream_ca = {gwlib.toml_str(pki.ca)}
allow_private = true
"""
    gw = factory(extra=extra)
    counter = Instructions(gw.proc.pid, dumps) if instructions else None
    try:
        tok = gw.mint(hosts="stream.example.com")
        rows = []
        for label, host, gz in (("plain, unredacted", "other.example.com", False),
                                ("plain, redacted", "stream.example.com", False),
                                ("gzip, unredacted (passed compressed)", "other.example.com", True),
                                ("gzip, decoded + redacted", "stream.example.com", True)):
            url = f"https://{host}/bench-body" + ("?gz=1" if gz else "")
            # A service without a credential takes no token (and is not redacted).
            token = ["-H", f"Authorization: Bearer {tok}"] if host.startswith("stream") else []
            args = ["--http1.1", "-o", "/dev/null", *token, "-H", "Accept-Encoding: gzip", url]
            warm = gw.curl("-w", "%{http_code}", *args)  # the upstream builds its body once
            assert warm.stdout == b"200", (label, warm.stdout)
            if counter:
                counter.zero()
                for _ in range(rounds):
                    gw.curl(*args)
                total, dump = counter.dump()
                rows.append((label, total / rounds, dump))
                continue
            start_cpu, start = cpu_seconds(gw.proc.pid), time.monotonic()
            for _ in range(rounds):
                gw.curl(*args)
            cpu = cpu_seconds(gw.proc.pid) - start_cpu
            wall = time.monotonic() - start
            rows.append((label, cpu / rounds * 1000, wall / rounds * 1000))
        if counter:
            print(f"{'10 MB response':40} {'instructions':>15}  dump (callgrind_annotate)")
            for label, per, dump in rows:
                print(f"{label:40} {per:15,.0f}  {dump}")
            print(f"redaction cost on plain bodies: {100 * (rows[1][1] - rows[0][1]) / rows[0][1]:+.1f} %"
                  " instructions (each response includes its TLS handshake)")
            return
        print(f"{'10 MB response':40} {'gateway CPU ms':>15} {'wall ms':>10}")
        for label, cpu_ms, wall_ms in rows:
            print(f"{label:40} {cpu_ms:15.1f} {wall_ms:10.1f}")
        base_cpu = rows[0][1]
        print(f"redaction cost on plain bodies: {100 * (rows[1][1] - base_cpu) / base_cpu:+.1f} % CPU")
    finally:
        factory.stop_all()
        py.stop()
        nginx.stop()


if __name__ == "__main__":
    main()
