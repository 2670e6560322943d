"""Fixtures for the database gateway tests (tests/e2e/db): see dblib.CloakroomDb."""
import importlib.util
import pathlib

import pytest

from dblib import CloakroomDb

# pytest registers each directory's conftest.py as the module "conftest" in turn, and the tests in
# tests/e2e do `from conftest import CANARY_SECRET`: keep those names importable from here too.
_spec = importlib.util.spec_from_file_location(
    "cloakroom_e2e_root_conftest_db", pathlib.Path(__file__).resolve().parent.parent / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
for _name in dir(_root):
    if _name.isupper():
        globals()[_name] = getattr(_root, _name)


@pytest.fixture
def cloakroom_db(tmp_path):
    """Factory: cloakroom_db(databases_toml, secrets) -> a started CloakroomDb, stopped at teardown
    (and then checked: no secret value given in `secrets` appears in anything it printed)."""
    started = []

    def make(databases_toml: str, secrets: dict, extra_toml: str = "", name: str = "gw"):
        gw = CloakroomDb(tmp_path / name, databases_toml, secrets, extra_toml).start()
        gw.secret_values = list(secrets.values())
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()
        gw.assert_never_printed(*gw.secret_values)
