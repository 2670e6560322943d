"""Databases from inside a netns `cloakroom run`: psql, mariadb and redis-cli log in to the
PostgreSQL, MySQL and Redis gateways with the session token (put in PGPASSWORD, MYSQL_PWD and
REDISCLI_AUTH by each database's `token_env`), at the very address and port the gateway listens on
outside, and query the real servers the database suite starts (tests/e2e/db). A database the
session's token does not name is not reachable (its port lands on the transparent listener, which
refuses it), nor is the real server's port or any other host loopback listener. The gateway is a
real `cloakroom serve` of the current user (the hand-over requires it: SO_PEERCRED)."""
import json
import pathlib
import subprocess
import sys
import tempfile

import pytest

from sbxlib import BIN, CANARY_SECRET, HostListeners, e2e_root, userns_works

_DB = pathlib.Path(__file__).resolve().parent.parent / "db"
sys.path.insert(0, str(_DB))
from dblib import CloakroomDb, free_port  # noqa: E402
from mysql_server import RO_PASSWORD, mariadb  # noqa: E402,F401  (session fixture)
from pg_server import pg_server  # noqa: E402,F401  (session fixture)
from redis_server import redis_server  # noqa: E402,F401  (session fixture)

PG_ROWS = ["apple", "pear"]
MY_ROWS = ["teapot", "kettle", "whisk"]


@pytest.fixture(scope="module")
def dbgw(pg_server, mariadb, redis_server, tmp_path_factory):  # noqa: F811
    if not userns_works():
        pytest.skip("user namespaces unavailable for the current user on this kernel")
    ports = {"pg": free_port(), "my": free_port(), "rd": free_port(), "pg6": free_port()}
    toml = f"""
[[database]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:{ports['pg']}"
upstream = "127.0.0.1:{pg_server.port}"
token_env = ["PGPASSWORD"]
[database.logins]
app = {{ user = "app_scram", password = "file:pg_scram" }}

[[database]]
name = "pg6"
protocol = "postgres"
listen = "[::1]:{ports['pg6']}"
upstream = "127.0.0.1:{pg_server.port}"
token_env = ["PGPASSWORD"]
[database.logins]
app = {{ user = "app_scram", password = "file:pg_scram" }}

[[database]]
name = "my"
protocol = "mysql"
listen = "127.0.0.1:{ports['my']}"
upstream = "127.0.0.1:{mariadb.port}"
tls = "disable"
token_env = ["MYSQL_PWD"]
[database.logins]
readonly = {{ user = "shop_ro", password = "file:my_ro" }}

[[database]]
name = "rd"
protocol = "redis"
listen = "127.0.0.1:{ports['rd']}"
upstream = "127.0.0.1:{redis_server.port}"
token_env = ["REDISCLI_AUTH"]
[database.logins]
default = {{ user = "default", password = "file:redis_default" }}
"""
    secrets = {"pg_scram": pg_server.passwords["app_scram"], "my_ro": RO_PASSWORD,
               "redis_default": redis_server.default_password}
    # A short directory: the hand-over socket lives under it (sun_path is 108 bytes).
    gw = CloakroomDb(pathlib.Path(tempfile.mkdtemp(prefix="sbxdb-")), toml, secrets).start()
    gw.secret_values = list(secrets.values())
    gw.real_ports = {"pg": pg_server.port, "my": mariadb.port, "rd": redis_server.port}
    gw.outputs = []
    assert all(gw.port(name) == port for name, port in ports.items()), gw.stderr_text()
    yield gw
    gw.stop()
    text = gw.all_output() + "\n".join(gw.outputs)
    for value in [*gw.secret_values, CANARY_SECRET]:
        assert value not in text, "a real database password appeared in an output"


def run_inside(gw, script, *run_args, timeout=120):
    project = pathlib.Path(tempfile.mkdtemp(prefix="db-", dir=e2e_root()))
    env = dict(gw.env)
    env.update({f"{name.upper()}_PORT": str(gw.port(name)) for name in ("pg", "my", "rd", "pg6")})
    env.update({f"REAL_{name.upper()}_PORT": str(port) for name, port in gw.real_ports.items()})
    proc = subprocess.run([BIN, "run", "--config", str(gw.config), *run_args, "--", "bash", "-c",
                           script], cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout)
    gw.outputs += [proc.stdout, proc.stderr]
    return proc


def sections(stdout):
    """{name: text} from the script's "=== name" markers."""
    out = {}
    for block in stdout.split("=== ")[1:]:
        name, _, text = block.partition("\n")
        out[name.strip()] = text.strip()
    return out


PSQL = ('psql "host=127.0.0.1 port=$PG_PORT user=app dbname=shop sslmode=disable '
        'connect_timeout=10" -Atc "SELECT name FROM items ORDER BY id"')
MARIADB = ('timeout 30 mariadb --no-defaults -h 127.0.0.1 -P $MY_PORT -u readonly '
           '--connect-timeout=10 --batch --skip-column-names shop '
           '-e "SELECT name FROM items ORDER BY id"')
REDIS = 'timeout 30 redis-cli --no-auth-warning -h 127.0.0.1 -p $RD_PORT'

CLIENTS = f'''
echo "=== env"; for v in PGPASSWORD MYSQL_PWD REDISCLI_AUTH; do printenv $v | cut -c1-4; done
echo "=== psql"; {PSQL} 2>&1; echo "rc=$?"
echo "=== psql6"; {PSQL.replace("127.0.0.1", "::1").replace("$PG_PORT", "$PG6_PORT")} 2>&1; echo "rc=$?"
echo "=== mariadb"; {MARIADB} 2>&1; echo "rc=$?"
echo "=== redis"; {REDIS} SET sandbox-key from-the-sandbox 2>&1; {REDIS} GET sandbox-key 2>&1; echo "rc=$?"
'''


def test_clients_log_in_with_the_session_token(dbgw, redis_server):  # noqa: F811
    before = len(dbgw.audit())
    proc = run_inside(dbgw, CLIENTS)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = sections(proc.stdout)
    # The token, never a password, in each client's variable.
    assert out["env"].split() == ["acm_"] * 3, out["env"]
    assert out["psql"].splitlines() == [*PG_ROWS, "rc=0"], out["psql"]
    assert out["psql6"].splitlines() == [*PG_ROWS, "rc=0"], out["psql6"]  # an IPv6 listener
    assert [line for line in out["mariadb"].splitlines() if not line.startswith("WARNING")] == \
        [*MY_ROWS, "rc=0"], out["mariadb"]
    assert out["redis"].splitlines() == ["OK", "from-the-sandbox", "rc=0"], out["redis"]
    # The real server got the write: the relay went all the way.
    assert redis_server.direct().get("sandbox-key") == "from-the-sandbox"
    # The sandbox's start-up summary says where the databases are.
    assert f"database gateways inside: pg at 127.0.0.1:{dbgw.port('pg')} (postgres)" in proc.stderr
    assert f"pg6 at [::1]:{dbgw.port('pg6')} (postgres)" in proc.stderr
    records = dbgw.audit(wait_for=before + 5)[before:]
    allowed = {(r["database"], r["decision"]) for r in records}
    assert {("pg", "allow"), ("pg6", "allow"), ("my", "allow"), ("rd", "allow")} <= allowed, \
        records
    assert all(r["decision"] == "allow" for r in records), records


def test_a_database_outside_the_scope_is_not_reachable(dbgw):
    """--service pg: the token names only pg, so only pg's gateway is in the sandbox; the other
    gateways' ports and the real servers' ports go to the transparent listener, which refuses
    them; a host loopback listener sees nothing."""
    host = HostListeners()
    try:
        before = len(dbgw.audit())
        script = CLIENTS + f'''
echo "=== real"
for p in $REAL_PG_PORT $REAL_MY_PORT $REAL_RD_PORT {host.tcp.getsockname()[1]}; do
  python3 - "$p" <<'PY'
import socket, sys
port = int(sys.argv[1])
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(bytes([0, 0, 0, 8, 4, 210, 22, 47]))  # PostgreSQL's SSLRequest: not HTTP, not TLS
    s.settimeout(15)
    data = s.recv(100)
    print(port, "answered" if data else "closed")
except OSError as e:
    print(port, "refused", type(e).__name__)
PY
done
'''
        proc = run_inside(dbgw, script, "--service", "pg", timeout=180)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        out = sections(proc.stdout)
        assert out["env"].split() == ["acm_"], out["env"]  # only PGPASSWORD
        assert out["psql"].splitlines() == [*PG_ROWS, "rc=0"], out["psql"]
        assert not out["mariadb"].endswith("rc=0"), out["mariadb"]
        assert not any(row in out["mariadb"] for row in MY_ROWS), out["mariadb"]
        assert "from-the-sandbox" not in out["redis"] and not out["redis"].endswith("rc=0"), \
            out["redis"]
        for line in out["real"].splitlines():
            assert "answered" not in line, out["real"]
        assert len(out["real"].splitlines()) == 4, out["real"]
        assert "database gateways inside: pg at" in proc.stderr
        assert f":{dbgw.port('my')}" not in proc.stderr.split("database gateways inside:")[1]
        # The database gateways saw only the pg session; the others were refused before any.
        records = dbgw.audit(wait_for=before + 1)[before:]
        assert [(r["database"], r["decision"]) for r in records] == [("pg", "allow")], records
        # What the transparent listener refused is in the audit log, by original destination.
        audit = [json.loads(line) for line in dbgw.audit_path.read_text().splitlines()]
        refused = {r.get("host") for r in audit if r.get("kind") == "transparent"
                   and r.get("decision") == "deny"}
        for port in (dbgw.port("my"), dbgw.port("rd"), dbgw.real_ports["pg"]):
            assert f"127.0.0.1:{port}" in refused, (port, refused)
    finally:
        import time
        time.sleep(0.3)
        host.close()
    assert host.received == [], host.received
