"""Rate limits, concurrency limits and budgets in the database gateways (docs/operations.md,
"Rate limits and budgets"): a session is one request, checked at login after the token, and the
client gets its protocol's clear error (PostgreSQL 53300 too_many_connections through psql, Redis
-ERR through redis-cli); a session holds its concurrency slot until it ends."""
import json
import os
import subprocess

import psycopg2
import pytest
import redis

from dblib import CloakroomDb
from pg_server import pg_server  # noqa: F401 (fixture)
from redis_server import redis_server  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def gw(pg_server, redis_server, tmp_path_factory):  # noqa: F811
    toml = f"""
[[database]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{pg_server.port}"
tls = "disable"
token_concurrency = 1
token_budget = 3
[database.logins]
readonly = {{ user = "app_scram", password = "file:pg" }}

[[database]]
name = "pgfree"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{pg_server.port}"
tls = "disable"
[database.logins]
readonly = {{ user = "app_scram", password = "file:pg" }}

[[database]]
name = "cache"
protocol = "redis"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{redis_server.port}"
tls = "disable"
client_tls = "off"
token_rate = "2/min"
[database.logins]
app = {{ user = "app", password = "file:redis" }}
"""
    secrets = {"pg": pg_server.passwords["app_scram"], "redis": redis_server.app_password}
    g = CloakroomDb(tmp_path_factory.mktemp("limits-gw"), toml, secrets).start()
    yield g
    g.stop()
    g.cli_outputs = [o for o in g.cli_outputs if not o.startswith("acm_")]
    g.assert_never_printed(*secrets.values())


def psql(gw, token, sql="select 1", database="pg"):
    conninfo = (f"host=127.0.0.1 port={gw.port(database)} user=readonly dbname=shop "
                "sslmode=disable connect_timeout=10")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGPASSWORD": token,
           "HOME": str(gw.tmp)}
    return subprocess.run(["/usr/bin/psql", "-X", "-At", "-d", conninfo, "-c", sql], env=env,
                          capture_output=True, text=True, timeout=30)


def audit(gw):
    lines = gw.audit_path.read_text().splitlines() if gw.audit_path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def test_postgres_concurrency_then_budget(gw):
    token = gw.mint("--db", "pg")
    held = psycopg2.connect(host="127.0.0.1", port=gw.port("pg"), user="readonly",
                            password=token, dbname="shop", sslmode="disable")  # session 1
    try:
        refused = psql(gw, token)  # a second concurrent session of the same token
        assert refused.returncode != 0
        assert "at most 1 concurrent" in refused.stderr, refused.stderr
        with pytest.raises(psycopg2.OperationalError) as info:
            psycopg2.connect(host="127.0.0.1", port=gw.port("pg"), user="readonly",
                             password=token, dbname="shop", sslmode="disable")
        assert info.value.pgcode in (None, "53300")  # libpq reports login errors without code
        # another token is not limited by this one
        assert psql(gw, gw.mint("--db", "pg")).stdout.strip() == "1"
    finally:
        held.close()
    # the slot is free again once the session ended (sessions 2 and 3 of the budget of 3)
    for _ in range(2):
        ok = psql(gw, token)
        assert ok.stdout.strip() == "1", ok.stderr
    spent = psql(gw, token)
    assert spent.returncode != 0
    assert "budget of 3" in spent.stderr, spent.stderr
    recs = [r for r in audit(gw) if r.get("kind") == "database" and "budget" in r.get("reason", "")]
    assert recs and recs[-1]["decision"] == "deny", recs


def test_redis_token_rate(gw):
    token = gw.mint("--db", "cache")
    for _ in range(2):
        r = redis.Redis(host="127.0.0.1", port=gw.port("cache"), username="app", password=token)
        assert r.ping()
        r.close()
    p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(gw.port("cache")), "--user",
                        "app", "--pass", token, "--no-auth-warning", "ping"],
                       capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert "rate limit of 2/min per token" in out, out
    assert "PONG" not in out


def test_limits_caveat_applies_to_database_sessions(gw):
    """`mint --budget` / `--concurrency` hold for database sessions as for HTTP requests; the
    database "pgfree" has no limit configured, the token brings its own."""
    token = gw.mint("--db", "pgfree", "--budget", "2")
    for _ in range(2):
        ok = psql(gw, token, database="pgfree")
        assert ok.stdout.strip() == "1", ok.stderr
    spent = psql(gw, token, database="pgfree")
    assert spent.returncode != 0
    assert "budget of 2 of the token (its Limits caveat)" in spent.stderr, spent.stderr
    # A token without the caveat has no limit on this database.
    free = gw.mint("--db", "pgfree")
    for _ in range(3):
        assert psql(gw, free, database="pgfree").stdout.strip() == "1"
    one = gw.mint("--db", "pgfree", "--concurrency", "1")
    held = psycopg2.connect(host="127.0.0.1", port=gw.port("pgfree"), user="readonly",
                            password=one, dbname="shop", sslmode="disable")
    try:
        refused = psql(gw, one, database="pgfree")
        assert refused.returncode != 0
        assert "at most 1 concurrent requests of the token (its Limits caveat)" in \
            refused.stderr, refused.stderr
    finally:
        held.close()
    assert psql(gw, one, database="pgfree").stdout.strip() == "1"
