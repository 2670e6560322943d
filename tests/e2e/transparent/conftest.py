"""Fixtures for the transparent listener, DNS responder and hand-over tests: the gateway fixtures of
tests/e2e/gateway (real nginx upstream, real `cloakroom serve`, leak checks) plus a sandbox helper that
runs in a network namespace the test creates (`unshare -Urn`)."""
import importlib.util
import pathlib
import shutil
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
GATEWAY = HERE.parent / "gateway"
sys.path.insert(0, str(GATEWAY))

# The gateway suite's fixtures (nginx, pki, leaks, make_gateway...), under this directory too.
_spec = importlib.util.spec_from_file_location("cloakroom_e2e_gateway_conftest", GATEWAY / "conftest.py")
_gateway = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gateway)
for _name in dir(_gateway):
    if not _name.startswith("__"):
        globals().setdefault(_name, getattr(_gateway, _name))

from tlib import transparent_config, wait_handover  # noqa: E402


@pytest.fixture
def tgw(make_gateway):
    """A gateway with the hand-over socket (the default path under its data_dir)."""
    if not shutil.which("unshare") or not shutil.which("nft"):
        pytest.fail("unshare/nft missing: run scripts/setup-e2e")
    gw = make_gateway(config_text=lambda tmp: transparent_config(make_gateway, tmp, allow_hosts=["127.0.0.1"]))
    wait_handover(gw)
    return gw


