"""Fixtures for the HTTPS gateway end-to-end tests: real upstreams, the real `cloakroom serve`, real clients.

Everything listens on 127.0.0.1 with ports picked by the kernel and is stopped at teardown. Every output
(cloakroom's stdout/stderr, the audit log, every client's output, the upstream logs) is collected and,
when the session ends, checked for the canary secrets and the signing key.
"""
import os
import shutil

import pytest

import gwlib
import upstreams

# pytest registers each directory's conftest.py as the module "conftest" in turn, and the tests in
# tests/e2e do `from conftest import CANARY_SECRET`: keep those names importable from here too.
for _name in dir(gwlib._root):
    if _name.isupper():
        globals()[_name] = getattr(gwlib._root, _name)


def pytest_configure(config):
    config.addinivalue_line("markers", "gateway: HTTPS gateway end-to-end test")


@pytest.fixture(scope="session")
def leaks():
    rec = gwlib.LeakRecorder()
    yield rec
    found = rec.check({
        "CANARY_SECRET": gwlib.CANARY_SECRET,
        "query-parameter secret": gwlib.SECRETS["query"],
        "MACAROON_SIGNING_KEY": gwlib.CANARY_KEY_B64,
    })
    assert not found, "secret leak:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gateway-e2e")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def pki(workdir):
    return upstreams.make_pki(workdir / "pki")


@pytest.fixture(scope="session")
def nginx(workdir, pki, leaks):
    if not shutil.which("nginx") or not shutil.which("fcgiwrap"):
        pytest.fail("nginx/fcgiwrap missing: run scripts/setup-e2e")
    d = workdir / "nginx"
    d.mkdir()
    ng = upstreams.NginxUpstream(d, pki, gwlib.SECRETS)
    ng.start()
    yield ng
    ng.stop()
    # The upstream legitimately receives the query-parameter secret; everything else is a leak.
    logs = ng.logs()
    assert gwlib.CANARY_SECRET not in logs, "a canary secret appeared in the upstream's logs"
    assert gwlib.CANARY_KEY_B64 not in logs


@pytest.fixture(scope="session")
def pyup(pki):
    up = upstreams.PyUpstream(pki).start()
    yield up
    up.stop()


@pytest.fixture(scope="session")
def _session_factory(workdir, pki, nginx, pyup, leaks):
    f = gwlib.GatewayFactory(workdir / "gateways", pki, nginx, pyup, leaks)
    f.base.mkdir()
    yield f
    f.stop_all()


@pytest.fixture(scope="session")
def _shared_gw(_session_factory):
    return {"gw": None}


@pytest.fixture
def gw(_shared_gw, _session_factory):
    """The shared gateway on the standard configuration (passthrough mode). If a test makes it die,
    that test gets an error naming the crash, and the next test gets a fresh gateway."""
    g = _shared_gw["gw"]
    if g is None or g.proc.poll() is not None:
        g = _shared_gw["gw"] = _session_factory()
    yield g
    if g.proc.poll() is not None:
        tail = "".join(g.stderr_lines[-20:])
        pytest.fail(f"cloakroom serve died during this test (exit {g.proc.returncode}):\n{tail}",
                    pytrace=False)


@pytest.fixture
def make_gateway(tmp_path, pki, nginx, pyup, leaks):
    """Starts extra gateways (strict mode, reload tests…); each is stopped when the test ends."""
    f = gwlib.GatewayFactory(tmp_path / "gateways", pki, nginx, pyup, leaks)
    f.base.mkdir()
    yield f
    f.stop_all()


@pytest.fixture(scope="session")
def node_dir():
    return gwlib.NODE_DIR


@pytest.fixture(scope="module")
def grpc_server(pki):
    """A real grpcio echo server over TLS (grpc_echo.EchoServer), one per test module. Its
    modules skip themselves when python3-grpcio is missing (pytest.importorskip)."""
    from grpc_echo import EchoServer  # imports grpc: only where a test asks for this fixture

    s = EchoServer(pki)
    yield s
    s.stop()
