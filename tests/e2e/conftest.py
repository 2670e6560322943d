"""Shared fixtures for end-to-end tests: the real `cloakroom` binary in an isolated home."""
import base64
import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "agent_creds_tokens.json").read_text())
BIN = os.environ.get("CLOAKROOM_BIN", str(ROOT / "build" / "cloakroom"))

# Canary values: tests plant them as secrets and assert they never appear in any output.
CANARY_SECRET = "sk_canary_7f3a9c1e5b2d4680_DO_NOT_LEAK"
CANARY_KEY_B64 = base64.b64encode(b"canary-signing-key-0123456789abcdef!").decode()


class Cloakroom:
    """Runs the binary with HOME/XDG pointing into a temp dir and a controlled environment."""

    def __init__(self, home: pathlib.Path):
        self.home = home
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "LANG": "C.UTF-8",
        }
        self.outputs = []  # every stdout/stderr produced, for leak checks

    def run(self, *args, stdin=None, env=None, check=None):
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [BIN, *args], input=stdin, env=full_env, capture_output=True, text=True, timeout=60
        )
        self.outputs += [proc.stdout, proc.stderr]
        if check is not None:
            assert proc.returncode == check, (
                f"exit {proc.returncode} != {check}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def assert_never_printed(self, *values):
        for out in self.outputs:
            for value in values:
                assert value not in out, "a secret value appeared in cloakroom's output"


@pytest.fixture
def cloakroom(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return Cloakroom(home)


@pytest.fixture
def vectors():
    return VECTORS
