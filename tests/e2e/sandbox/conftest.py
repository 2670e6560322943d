"""Fixtures for the `cloakroom run` tests (tests/e2e/sandbox): sessions as the current user and
as an unprivileged one, host listeners and a host process that must stay out of reach."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import sbxlib
from sbxlib import CANARY_SECRET, HostListeners, Session

# pytest registers each directory's conftest.py as the module "conftest" in turn, and the tests in
# tests/e2e do `from conftest import CANARY_SECRET`: keep those names importable from here too.
for _name in dir(sbxlib._root):
    if _name.isupper():
        globals()[_name] = getattr(sbxlib._root, _name)


@pytest.fixture(params=["current", "unprivileged"])
def session(request):
    if request.param == "current":
        user = None
        if not sbxlib.userns_works():
            pytest.skip("user namespaces unavailable for the current user on this kernel")
    else:
        user = sbxlib.ensure_test_user()
        if user is None:
            pytest.skip("creating an unprivileged test user needs root")
        if user.pw_uid == os.geteuid():
            pytest.skip("already unprivileged")
        if not sbxlib.userns_works(user):
            pytest.skip("this kernel refuses unprivileged user namespaces")
    base = pathlib.Path(tempfile.mkdtemp(prefix="sbx-", dir=sbxlib.e2e_root()))
    base.chmod(0o755)
    s = Session(base, user)
    yield s
    for out in s.outputs:
        assert CANARY_SECRET not in out, "the canary secret appeared in cloakroom run's output"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def host_listeners():
    listeners = HostListeners()
    yield listeners
    listeners.close()


@pytest.fixture
def host_process():
    """A host process holding the canary in its environment (like a gateway with its key)."""
    proc = subprocess.Popen(["sleep", "120"], env={"SECRET_OF_HOST": CANARY_SECRET})
    yield proc
    proc.kill()
    proc.wait()


# The gateway suite's fixtures (nginx upstream, pki, leak checks, make_gateway) for the positive
# path through a real `cloakroom serve` (test_sandbox_gateway.py).
_GATEWAY = pathlib.Path(__file__).resolve().parent.parent / "gateway"
import sys  # noqa: E402
sys.path.insert(0, str(_GATEWAY))
import importlib.util  # noqa: E402
_gspec = importlib.util.spec_from_file_location("cloakroom_e2e_gateway_conftest_sbx",
                                                _GATEWAY / "conftest.py")
_gateway = importlib.util.module_from_spec(_gspec)
_gspec.loader.exec_module(_gateway)
for _name in dir(_gateway):
    if not _name.startswith("__"):
        globals().setdefault(_name, getattr(_gateway, _name))
