"""`cloakroom run` as a user sees it: exit status, environment, terminal, signals, errors."""
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sbxlib import BIN, CANARY_SECRET, OTHER_KEY

NO_NET = ("--no-network",)


def env_inside(session, *run_args):
    proc = session.run("env", "-0", run_args=run_args or NO_NET)
    assert proc.returncode == 0, proc.stderr
    pairs = [item.split("=", 1) for item in proc.stdout.split("\0") if "=" in item]
    return dict(pairs), proc


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_status_is_the_commands(session, code):
    proc = session.run("sh", "-c", f"exit {code}", run_args=NO_NET)
    assert proc.returncode == code, proc.stderr


def test_killed_by_a_signal_gives_128_plus_n(session):
    proc = session.run("sh", "-c", "kill -TERM $$", run_args=NO_NET)
    assert proc.returncode == 128 + signal.SIGTERM


def test_missing_command_is_127(session):
    proc = session.run("no-such-command-xyz", run_args=NO_NET)
    assert proc.returncode == 127
    assert "cannot execute no-such-command-xyz" in proc.stderr


def test_token_replaces_credentials_in_the_environment(session):
    env, proc = env_inside(session)
    assert env["STRIPE_API_KEY"].startswith("acm_")
    assert env["STRIPE_KEY"] == env["STRIPE_API_KEY"]
    assert env["GITHUB_TOKEN"] == env["STRIPE_API_KEY"]
    for gone in ("SOME_API_KEY", "AWS_SECRET_ACCESS_KEY", "INNOCENT"):
        assert gone not in env, gone
    assert env["KEEP_ME"] == "kept"
    assert all(CANARY_SECRET not in v for v in env.values())
    # The summary names what was removed, never a value.
    assert "removed from the environment:" in proc.stderr
    assert "SOME_API_KEY" in proc.stderr and "INNOCENT" in proc.stderr
    assert OTHER_KEY not in proc.stderr


def test_session_token_is_limited_to_the_named_service(session):
    env, _ = env_inside(session, "--no-network", "--service", "github", "--valid-for", "1h")
    assert "STRIPE_API_KEY" not in env  # not replaced (github's token_env only) and removed
    token = env["GITHUB_TOKEN"]
    inspected = subprocess.run([BIN, "inspect", "-"], input=token, capture_output=True, text=True,
                               env=session.env)
    assert inspected.returncode == 0, inspected.stderr
    assert "api.github.com" in inspected.stdout
    assert "api.stripe.com" not in inspected.stdout


@pytest.mark.parametrize("args,message", [
    (("--service", "nope"), '--service "nope" is not a configured service or database'),
    (("--valid-for", "0s"), "--valid-for must be between"),
    (("--contain", "sideways"), "--contain"),
])
def test_usage_errors(session, args, message):
    proc = session.run("true", run_args=(*NO_NET, *args))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_prints_the_protections_in_force(session):
    proc = session.run("true", run_args=NO_NET)
    assert proc.returncode == 0
    for text in ("user, mount, pid, ipc, uts and network namespaces", "seccomp", "no_new_privs",
                 "no capabilities", "read-only", "hidden"):
        assert text in proc.stderr, text


def test_working_directory_under_tmp_stays_usable(session):
    import tempfile
    work = tempfile.mkdtemp(prefix="cloakroom-cwd-")
    os.chmod(work, 0o777)
    with open(os.path.join(work, "seen"), "w") as f:
        f.write("from the host\n")
    proc = subprocess.run(session.command("sh", "-c", "cat seen && echo made > made && ls /tmp",
                                          run_args=NO_NET),
                          cwd=work, env=session.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "from the host" in proc.stdout
    assert open(os.path.join(work, "made")).read() == "made\n"
    # Only the working directory's own path exists in the private /tmp.
    assert proc.stdout.split("\n")[1:] [0].startswith("cloakroom-cwd-")


def test_sigterm_to_run_reaches_the_command(session):
    p = subprocess.Popen(session.command("sh", "-c",
                                         "trap 'echo got-term; exit 7' TERM; echo ready; "
                                         "while true; do sleep 0.1; done", run_args=NO_NET),
                         cwd=session.project, env=session.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert "got-term" in out, err
    assert p.returncode == 7


@pytest.mark.parametrize("contain", ["netns", "landlock"])
def test_a_signal_sent_the_moment_the_command_starts_is_not_lost(session, contain):
    """A signal that arrives while `run` or the sandbox's pid 1 is still setting up forwarding
    must wait for the command, not kill `run` or vanish (pid 1 of a pid namespace drops signals
    it has no handler for). CPU hogs make the command win the race against its parents."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    outcomes = []
    try:
        for _ in range(15):
            p = subprocess.Popen(session.command("sh", "-c", "trap 'echo got-term; exit 7' TERM; "
                                                 "echo ready; while true; do sleep 0.1; done",
                                                 run_args=NO_NET + ("--contain", contain)),
                                 cwd=session.project, env=session.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            assert p.stdout.readline().strip() == "ready"
            p.send_signal(signal.SIGTERM)
            try:
                p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
            outcomes.append(p.returncode)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert outcomes == [7] * len(outcomes)


class Pty:
    def __init__(self, argv, env, cwd):
        argv = [shutil.which(argv[0]), *argv[1:]]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        self.buffer = b""

    def expect(self, needle, timeout=15, count=1):
        deadline = time.time() + timeout
        while self.buffer.count(needle.encode()) < count:
            left = deadline - time.time()
            assert left > 0, f"{needle!r} not seen in {self.buffer[-500:]!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"EOF before {needle!r}: {self.buffer[-500:]!r}"
                self.buffer += chunk

    def send(self, data):
        os.write(self.fd, data.encode())

    def wait(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.buffer += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"still running: {self.buffer[-500:]!r}")


def test_interactive_cat_gets_input_and_ctrl_c(session):
    t = Pty(session.command("cat", run_args=NO_NET), session.env, session.project)
    t.send("hello from the keyboard\n")
    # The terminal's echo, then cat's copy (the echo may come before the start-up summary).
    t.expect("hello from the keyboard\r\n", count=2)
    t.send("\x03")  # Ctrl-C: SIGINT to the foreground group, which is the command's
    assert t.wait() == 128 + signal.SIGINT


def test_interactive_shell_job_control_and_ctrl_c(session):
    env = dict(session.env, PS1="sbx$ ", TERM="dumb")
    t = Pty(session.command("bash", "--norc", "--noprofile", "-i", run_args=NO_NET), env,
            session.project)
    t.expect("sbx$ ")
    t.send("sleep 30\n")
    time.sleep(0.5)
    t.send("\x03")  # interrupts sleep, not the shell
    t.expect("sbx$ ")
    t.send("stty size; echo alive-$((6*7))\n")
    t.expect("alive-42")
    t.send("exit 5\n")
    assert t.wait() == 5
    assert b"no job control" not in t.buffer


def host_shell(session):
    """An interactive bash on a pty (outside any sandbox), as a user's terminal."""
    env = dict(session.env, PS1="host$ ", TERM="dumb")
    t = Pty(["bash", "--norc", "--noprofile", "-i"], env, session.project)
    t.expect("host$ ")
    return t


def run_line(session):
    return " ".join(f"'{a}'" for a in session.command("sleep", "30", run_args=NO_NET))


def test_ctrl_z_stops_the_job_and_fg_resumes_it(session):
    t = host_shell(session)
    t.send(run_line(session) + "\n")
    t.expect("no capabilities")  # the summary: the sandbox is up
    time.sleep(0.5)
    t.send("\x1a")  # Ctrl-Z
    t.expect("Stopped")
    t.expect("host$ ", count=2)
    t.send("echo shell-has-the-terminal\n")
    t.expect("shell-has-the-terminal\r\n", count=2)
    t.send("fg\n")
    time.sleep(0.5)
    t.send("\x03")  # the command is in the foreground again: Ctrl-C ends it
    t.send("echo status=$?\n")
    t.expect("status=130")
    t.send("exit 0\n")
    t.wait()


def test_background_run_does_not_take_the_terminal(session):
    t = host_shell(session)
    line = " ".join(f"'{a}'" for a in session.command("sh", "-c", "sleep 3; echo bg-done",
                                                       run_args=NO_NET))
    t.send(line + " 2>/dev/null &\n")
    t.expect("host$ ", count=2)
    time.sleep(1)  # the sandbox is up and its command running
    # The terminal's foreground group is still the shell's.
    t.send('[ "$(ps -o tpgid= -p $$)" = "$(ps -o pgid= -p $$)" ] && echo owner-$((1+1)) '
           '|| echo stolen-$((1+1))\n')
    t.expect("owner-2")
    t.send("echo fg-alive-$((2+3))\n")
    t.expect("fg-alive-5")
    t.expect("bg-done")
    t.send("exit 0\n")
    t.wait()


def as_session_user(session, *args):
    cmd = [BIN, *args]
    if session.user is not None:
        cmd = ["setpriv", f"--reuid={session.user.pw_uid}", f"--regid={session.user.pw_gid}",
               "--clear-groups", *cmd]
    return subprocess.run(cmd, cwd=session.project, env=session.env, capture_output=True,
                          text=True, timeout=30)


def test_stop_ends_a_named_session(session):
    p = subprocess.Popen(session.command("sh", "-c", "trap 'echo got-term; exit 9' TERM; "
                                         "echo up; while :; do sleep 0.1; done",
                                         run_args=(*NO_NET, "--name", "stoppable")),
                         cwd=session.project, env=session.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "up"
        twin = session.run("true", run_args=(*NO_NET, "--name", "stoppable"))
        assert twin.returncode == 2
        assert 'a session named "stoppable" is already running' in twin.stderr
        stop = as_session_user(session, "stop", "stoppable")
        assert stop.returncode == 0, stop.stderr
        out, _ = p.communicate(timeout=20)
        assert "got-term" in out
        assert p.returncode == 9
    finally:
        p.kill()
    gone = as_session_user(session, "stop", "stoppable")
    assert gone.returncode == 1
    assert 'no running session named "stoppable"' in gone.stderr
