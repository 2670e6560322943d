"""Revocation in the database gateways (docs/tokens.md, "Revocation"): a `cloakroom revoke` ends
the live PostgreSQL, MySQL and Redis sessions the token opened, within about a second and without a
restart, and a new login with the token (or one attenuated from it) is refused with a clear
error by psql, mariadb and redis-cli. Sessions of other tokens go on."""
import json
import os
import subprocess
import time

import psycopg2
import pymysql
import pytest
import redis

from dblib import CloakroomDb
from mysql_server import RO_PASSWORD, mariadb  # noqa: F401 (fixture)
from pg_server import pg_server  # noqa: F401 (fixture)
from redis_server import redis_server  # noqa: F401 (fixture)

APPLY_WITHIN = 1.5


@pytest.fixture(scope="module")
def gw(pg_server, mariadb, redis_server, tmp_path_factory):  # noqa: F811
    toml = f"""
[[database]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{pg_server.port}"
tls = "disable"
[database.logins]
readonly = {{ user = "app_scram", password = "file:pg" }}

[[database]]
name = "my"
protocol = "mysql"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{mariadb.port}"
tls = "disable"
client_tls = "off"
[database.logins]
readonly = {{ user = "shop_ro", password = "file:my" }}

[[database]]
name = "cache"
protocol = "redis"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{redis_server.port}"
tls = "disable"
client_tls = "off"
[database.logins]
app = {{ user = "app", password = "file:redis" }}
"""
    secrets = {"pg": pg_server.passwords["app_scram"], "my": RO_PASSWORD,
               "redis": redis_server.app_password}
    g = CloakroomDb(tmp_path_factory.mktemp("revoke-gw"), toml, secrets).start()
    yield g
    g.stop()
    g.cli_outputs = [o for o in g.cli_outputs if not o.startswith("acm_")]
    g.assert_never_printed(*secrets.values())


def token_id(gw, token):
    return json.loads(gw.cli("inspect", token).stdout)["token_id"]


def revoke(gw, token, reason="revoked by the test"):
    gw.cli("revoke", token_id(gw, token), "--reason", reason)
    return time.monotonic()


def wait_until(check, since, what):
    while time.monotonic() - since <= APPLY_WITHIN + 3:
        if check():
            elapsed = time.monotonic() - since
            assert elapsed <= APPLY_WITHIN, f"{what} took {elapsed:.2f}s"
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {APPLY_WITHIN + 3}s")


def revocation_audited(gw, tid):
    """The gateway's audit line for the applied revocation says it ended the one live session."""
    text = gw.audit_path.read_text() if gw.audit_path.exists() else ""
    lines = text[:text.rfind("\n") + 1].splitlines()  # whole lines only: one may be half-written
    records = [json.loads(line) for line in lines if line.strip()]
    return any(r.get("kind") == "revocation" and r["token_id"] == tid and
               "live sessions ended: 1" in r["reason"] for r in records)


def psql(gw, token, sql="select 1"):
    conninfo = (f"host=127.0.0.1 port={gw.port('pg')} user=readonly dbname=shop "
                "sslmode=disable connect_timeout=10")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGPASSWORD": token,
           "HOME": str(gw.tmp)}
    return subprocess.run(["/usr/bin/psql", "-X", "-At", "-d", conninfo, "-c", sql], env=env,
                          capture_output=True, text=True, timeout=30)


def test_postgres_session_is_ended_and_relogin_refused(gw):
    token, other = gw.mint("--db", "pg"), gw.mint("--db", "pg")
    conns = [psycopg2.connect(host="127.0.0.1", port=gw.port("pg"), user="readonly",
                              password=t, dbname="shop", sslmode="disable") for t in (token, other)]
    conns[0].autocommit = conns[1].autocommit = True
    for conn in conns:
        with conn.cursor() as cur:
            cur.execute("select 1")
    since = revoke(gw, token, "pg key leaked")

    def ended():
        try:
            with conns[0].cursor() as cur:
                cur.execute("select 1")
            return False
        except psycopg2.OperationalError:
            return True
    wait_until(ended, since, "ending the PostgreSQL session")
    with conns[1].cursor() as cur:  # another token's session goes on
        cur.execute("select 2")
        assert cur.fetchone() == (2,)
    conns[1].close()
    result = psql(gw, token)
    assert result.returncode != 0
    assert "revoked" in result.stderr and "pg key leaked" in result.stderr, result.stderr
    assert psql(gw, other).stdout.strip() == "1"
    assert revocation_audited(gw, token_id(gw, token))


def test_mysql_session_is_ended_and_relogin_refused(gw):
    token = gw.mint("--db", "my")
    conn = pymysql.connect(host="127.0.0.1", port=gw.port("my"), user="readonly", password=token,
                           database="shop", connect_timeout=10)
    with conn.cursor() as cur:
        cur.execute("select 1")
    since = revoke(gw, token, "mysql key leaked")

    def ended():
        try:
            conn.ping(reconnect=False)
            return False
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
            return True
    wait_until(ended, since, "ending the MySQL session")
    proc = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(gw.port("my")),
                           "-u", "readonly", f"--password={token}", "--connect-timeout=10", "shop",
                           "-e", "select 1"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "1045" in proc.stderr and "revoked" in proc.stderr, proc.stderr
    assert "mysql key leaked" in proc.stderr
    assert revocation_audited(gw, token_id(gw, token))


def test_redis_session_is_ended_and_relogin_refused(gw):
    token = gw.mint("--db", "cache")
    child = gw.cli("attenuate", token, "--db-commands", "@read").stdout.strip()
    r = redis.Redis(host="127.0.0.1", port=gw.port("cache"), username="app", password=token,
                    socket_timeout=5, retry_on_timeout=False)
    assert r.ping()
    since = revoke(gw, token, "redis key leaked")

    def ended():
        # The pooled connection was closed by the gateway: redis-py reconnects, and the new login
        # with the revoked token is refused.
        try:
            r.ping()
            return False
        except redis.exceptions.ConnectionError:  # the connection was closed under it
            return True
        except redis.exceptions.ResponseError as e:  # the reconnect's login was refused
            assert "revoked" in str(e)
            return True
    wait_until(ended, since, "ending the Redis session")
    for tok in (token, child):
        proc = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(gw.port("cache")),
                               "--no-auth-warning", "--user", "app", "-a", tok, "PING"],
                              capture_output=True, text=True, timeout=20)
        out = proc.stdout + proc.stderr
        assert "WRONGPASS" in out and "revoked" in out and "PONG" not in out, out
    assert revocation_audited(gw, token_id(gw, token))
