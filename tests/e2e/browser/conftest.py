"""Fixtures of the browser bridge e2e tests (helpers in blib.py)."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from blib import CHROMIUM, Bridge  # noqa: E402


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    # Not a skip: scripts/setup-e2e installs chromium, so its absence is a broken setup.
    assert CHROMIUM is not None, "chromium is not installed (run scripts/setup-e2e)"
    b = Bridge(tmp_path_factory.mktemp("bridge"))
    yield b
    b.stop()
