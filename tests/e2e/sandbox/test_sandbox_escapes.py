"""The escape suite: from inside `cloakroom run`, each escape must fail. Runs as the current
user (root in CI) and as an unprivileged user the suite creates. Without a gateway
(--no-network) until the hand-over is there; the network checks then prove that nothing
reaches the host at all."""
import json
import os
import shutil
import sys

import pytest

from sbxlib import PROBE, probe_params


@pytest.fixture
def probe(session, host_listeners, host_process):
    # The checkout may sit anywhere, /tmp included, which the sandbox replaces with a private
    # one: the probe runs from the project directory, which it sees.
    shutil.copy(PROBE, session.project / "probe.py")
    if session.user is not None:
        os.chown(session.project / "probe.py", session.user.pw_uid, session.user.pw_gid)
    proc = session.run(sys.executable, str(session.project / "probe.py"),
                       input=probe_params(session, host_listeners, host_process.pid),
                       run_args=("--no-network",), timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def assert_contained(results, name):
    assert name in results, f"probe did not run {name}"
    assert not results[name]["escaped"], f"{name}: {results[name]['detail']}"


@pytest.mark.parametrize("name", [
    "canary_in_files", "canary_in_env", "canary_in_proc", "host_process_environ",
])
def test_no_secret_visible(probe, name):
    assert_contained(probe, name)


def test_cloakroom_files_and_credential_stores_hidden(probe, session):
    reads = [k for k in probe if k.startswith("read:")]
    assert len(reads) == 8
    for name in reads:
        assert_contained(probe, name)


@pytest.mark.parametrize("name", [
    "socket:raw_icmp", "socket:raw_ipv6", "socket:packet", "socket:sctp", "socket:mptcp",
    "socket:netlink_netfilter",
])
def test_socket_kinds_refused(probe, name):
    assert_contained(probe, name)


@pytest.mark.parametrize("name", [
    "io_uring_setup", "unshare_newuser", "unshare_newns", "ptrace", "mount", "bpf", "keyctl",
    "tiocsti", "capabilities", "x32_syscall",
])
def test_kernel_interfaces_refused(probe, name):
    assert_contained(probe, name)


def test_nothing_reaches_the_host_network(probe, host_listeners):
    import time
    time.sleep(0.5)
    assert host_listeners.received == [], host_listeners.received
    for name in ("tcp_direct:192.0.2.77", "tcp_direct:1.1.1.1"):
        assert "connected" not in probe[name]["detail"], probe[name]


def test_writes_only_in_the_working_directory(probe, session):
    assert_contained(probe, "write_home")
    assert_contained(probe, "write_cwd:.git/hooks/post-checkout")
    assert_contained(probe, "write_cwd:.envrc")
    assert not (session.home / "written-from-sandbox").exists()
    assert (session.project / ".envrc").read_text() == "echo hello\n"
