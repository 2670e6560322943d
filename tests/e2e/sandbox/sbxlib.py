"""Helpers for the `cloakroom run` tests: an isolated home with a configuration whose secret is a canary,
run either as the current user (root in CI) or as an unprivileged user the suite creates."""
import json
import os
import pathlib
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

import importlib.util

# The shared constants live in tests/e2e/conftest.py; loaded under their own name (importing
# "conftest" would pick whichever conftest pytest loaded last).
_spec = importlib.util.spec_from_file_location(
    "cloakroom_e2e_root_conftest_sbx", pathlib.Path(__file__).resolve().parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
BIN = _root.BIN
CANARY_SECRET = _root.CANARY_SECRET
# Another credential-named variable's value, made per run (no provider-shaped literal).
OTHER_KEY = "other-" + secrets.token_hex(12)

HERE = pathlib.Path(__file__).resolve().parent
PROBE = HERE / "probe.py"
TEST_USER = "cloakroom-sbx"


def userns_works(as_user=None):
    cmd = ["unshare", "-Unpm", "--fork", "true"]
    if as_user:
        cmd = ["setpriv", f"--reuid={as_user.pw_uid}", f"--regid={as_user.pw_gid}",
               "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def ensure_test_user():
    """An unprivileged account for the 'as a user' runs (needs root to create)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    if os.geteuid() != 0:
        return None
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", TEST_USER],
                   check=True, capture_output=True)
    return pwd.getpwnam(TEST_USER)


def e2e_root():
    """Outside /tmp (the sandbox gets a private /tmp, which would hide the test's files by
    accident and prove nothing), traversable by the unprivileged test user."""
    root = pathlib.Path("/var/cache/cloakroom-e2e") if os.geteuid() == 0 else \
        pathlib.Path.home() / ".cache" / "cloakroom-e2e"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    return str(root)


class Session:
    """One isolated home: config, secrets, keys, a project directory; runs `cloakroom run`."""

    def __init__(self, base: pathlib.Path, user):
        self.user = user  # pwd entry, or None for the current user
        self.home = base / "home"
        self.project = self.home / "project"
        self.config_dir = self.home / ".config" / "cloakroom"
        self.data_dir = self.home / ".local" / "share" / "cloakroom"
        for d in (self.project / ".git" / "hooks", self.config_dir / "secrets", self.data_dir,
                  self.home / ".ssh", self.home / ".aws"):
            d.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "secrets").chmod(0o700)
        secret = self.config_dir / "secrets" / "stripe"
        secret.write_text(CANARY_SECRET)
        secret.chmod(0o600)
        (self.home / ".ssh" / "id_ed25519").write_text(f"PRIVATE KEY {CANARY_SECRET}\n")
        (self.home / ".aws" / "credentials").write_text(f"aws_secret_access_key={CANARY_SECRET}\n")
        (self.home / ".netrc").write_text(f"machine x password {CANARY_SECRET}\n")
        (self.project / ".envrc").write_text("echo hello\n")
        (self.project / "README").write_text("a project\n")
        self.config = self.config_dir / "cloakroom.toml"
        self.config.write_text(
            '[[service]]\nname = "stripe"\nhosts = ["api.stripe.com"]\n'
            'credential = { type = "bearer", secret = "file:stripe" }\n'
            'token_env = ["STRIPE_API_KEY", "STRIPE_KEY"]\n'
            '[[service]]\nname = "github"\nhosts = ["api.github.com"]\n'
            'token_env = ["GITHUB_TOKEN"]\n')
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "LANG": "C.UTF-8",
            "STRIPE_API_KEY": CANARY_SECRET,
            "SOME_API_KEY": OTHER_KEY,
            "AWS_SECRET_ACCESS_KEY": "aws-canary",
            "INNOCENT": f"contains {CANARY_SECRET} inside",
            "KEEP_ME": "kept",
        }
        if user is not None:
            for path in [base, *base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        self.outputs = []

    def command(self, *args, run_args=()):
        cmd = [BIN, "run", *run_args, "--", *args]
        if self.user is not None:
            cmd = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                   "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", *cmd]
        return cmd

    def run(self, *args, run_args=(), timeout=60, env=None, **kwargs):
        full_env = dict(self.env)
        full_env.update(env or {})
        proc = subprocess.run(self.command(*args, run_args=run_args), cwd=self.project,
                              env=full_env, capture_output=True, text=True, timeout=timeout,
                              **kwargs)
        self.outputs += [proc.stdout, proc.stderr]
        return proc


class HostListeners:
    """TCP and UDP listeners on the host's loopback; anything that arrives is an escape."""

    def __init__(self):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.received = []
        self.tcp.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop:
            try:
                conn, _ = self.tcp.accept()
                self.received.append(("tcp", conn.recv(100)))
                conn.close()
            except OSError:
                pass
            try:
                self.received.append(("udp", self.udp.recv(100)))
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.tcp.close()
        self.udp.close()


def probe_params(s, listeners, host_pid):
    return json.dumps({
        "canary": CANARY_SECRET,
        "secret_files": [str(s.config_dir), str(s.config_dir / "secrets" / "stripe"),
                         str(s.config), str(s.data_dir), str(s.home / ".ssh" / "id_ed25519"),
                         str(s.home / ".ssh"), str(s.home / ".aws" / "credentials"),
                         str(s.home / ".netrc")],
        "scan_dirs": [str(s.home), "/tmp", "/run"],
        "host_tcp_port": listeners.tcp.getsockname()[1],
        "host_udp_port": listeners.udp.getsockname()[1],
        "host_pid": host_pid,
    })
