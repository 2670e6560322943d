"""landlock mode (`--contain landlock`, for kernels without user namespaces): the filesystem
allow-list, TCP connect only to the gateway's ports (on any address: Landlock filters ports,
not addresses), TCP bind refused, UDP/raw sockets and the kernel interfaces refused by seccomp.
Skipped where the kernel's Landlock ABI is below 4."""
import json
import shutil
import socket
import sys

import pytest

from sbxlib import PROBE, probe_params


def landlock_abi():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(444, None, 0, 1)


pytestmark = pytest.mark.skipif(landlock_abi() < 4, reason="Landlock ABI < 4 (no TCP port rules)")


@pytest.fixture
def gateway_port(session):
    """A listener standing in for the gateway's proxy port, named in the configuration."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    text = session.config.read_text()
    session.config.write_text(f'[gateway]\nlisten = "127.0.0.1:{port}"\n' + text)
    yield port
    listener.close()


def run_probe(session, host_listeners, host_process, run_args, **extra):
    # The allow-list does not include the test tree: the probe runs from the project directory.
    shutil.copy(PROBE, session.project / "probe.py")
    if session.user is not None:
        import os
        os.chown(session.project / "probe.py", session.user.pw_uid, session.user.pw_gid)
    params = json.loads(probe_params(session, host_listeners, host_process.pid))
    params.update(extra)
    proc = session.run(sys.executable, "probe.py", input=json.dumps(params),
                       run_args=("--contain", "landlock", *run_args), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


SAME_AS_NETNS = [
    "canary_in_files", "canary_in_env", "canary_in_proc", "host_process_environ",
    "socket:raw_icmp", "socket:raw_ipv6", "socket:packet", "socket:sctp", "socket:mptcp",
    "socket:netlink_netfilter", "io_uring_setup", "unshare_newuser", "unshare_newns", "ptrace",
    "mount", "bpf", "keyctl", "tiocsti", "capabilities", "x32_syscall", "write_home",
    "tcp_bind_listen",
]


def test_landlock_escapes_fail(session, host_listeners, host_process, gateway_port):
    results, proc = run_probe(session, host_listeners, host_process, (),
                              empty_bounding_set=session.user is None, bind_refused=True)
    assert "Landlock filters ports, not addresses" in proc.stderr
    assert f"TCP connect only to port {gateway_port}" in proc.stderr
    for name in SAME_AS_NETNS:
        assert not results[name]["escaped"], f"{name}: {results[name]['detail']}"
    for name in [k for k in results if k.startswith("read:")]:
        assert not results[name]["escaped"], f"{name}: {results[name]['detail']}"
    # Not the gateway's port: refused by Landlock, nothing reaches the host listener.
    assert "Permission denied" in results["tcp_host_loopback"]["detail"]
    assert "Operation not permitted" in results["udp:127.0.0.1"]["detail"]
    import time
    time.sleep(0.3)
    assert host_listeners.received == []


def test_landlock_allows_the_gateway_port_only(session, gateway_port):
    code = (f"import socket\n"
            f"socket.create_connection(('127.0.0.1', {gateway_port}), timeout=3).close()\n"
            f"print('gateway ok')\n"
            f"try:\n socket.create_connection(('127.0.0.1', {gateway_port + 1}), timeout=3)\n"
            f"except OSError as e: print('other', e.errno)\n")
    proc = session.run(sys.executable, "-c", code, run_args=("--contain", "landlock"))
    assert proc.returncode == 0, proc.stderr
    assert "gateway ok" in proc.stdout
    assert "other 13" in proc.stdout  # EACCES


def test_landlock_refuses_a_cwd_holding_hidden_paths(session):
    proc = subprocess_run_in(session, session.home)
    assert proc.returncode == 2, proc.stderr
    assert "landlock mode cannot hide" in proc.stderr


def subprocess_run_in(session, cwd):
    import subprocess
    return subprocess.run(session.command("true", run_args=("--contain", "landlock",
                                                             "--no-network")),
                          cwd=cwd, env=session.env, capture_output=True, text=True, timeout=60)
