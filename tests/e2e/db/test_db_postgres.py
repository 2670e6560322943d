"""PostgreSQL gateway end to end: psql and psycopg2 log in to a local Cloakroom port with a token
as the password; Cloakroom logs in to a real PostgreSQL 15 (pg_server.py) with the real password
(SCRAM-SHA-256, MD5, trust; plaintext or TLS verify-full) and relays. Also: cancellation,
denials with their SQLSTATEs, upstream TLS failures, client TLS, malformed input, and that no
token reaches the server's log and no real password reaches a client or Cloakroom's output."""
import hashlib
import os
import socket
import struct
import subprocess
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from dblib import CloakroomDb, toml_str
from pg_server import pg_server  # noqa: F401  (fixture)

PSQL = "/usr/bin/psql"


# ---- a minimal raw protocol client (psql and psycopg2 do not show SQLSTATEs of login errors) ----

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_message(sock):
    head = recv_exact(sock, 5)
    (length,) = struct.unpack(">I", head[1:])
    return head[:1], recv_exact(sock, length - 4)


def error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


def startup_packet(params, version=196608):
    payload = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack(">II", 8 + len(payload), version) + payload


def raw_login(port, user, password, database="shop"):
    """Logs in; returns ("ok", parameters) or ("error", fields)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(startup_packet({"user": user, "database": database}))
        kind, body = read_message(sock)
        assert (kind, body) == (b"R", struct.pack(">I", 3)), (kind, body)
        secret = password.encode() + b"\0"
        sock.sendall(b"p" + struct.pack(">I", 4 + len(secret)) + secret)
        params = {}
        while True:
            kind, body = read_message(sock)
            if kind == b"E":
                return "error", error_fields(body)
            if kind == b"S":
                key, value, _ = body.split(b"\0")
                params[key.decode()] = value.decode()
            if kind == b"Z":
                sock.sendall(b"X" + struct.pack(">I", 4))
                return "ok", params


def raw_exchange(port, data):
    """Sends bytes, returns the first message back (or None when the gateway just closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        try:
            return read_message(sock)
        except (EOFError, ConnectionResetError):
            return None


# ---- fixtures ----

@pytest.fixture(scope="module")
def fake_plain_server():
    """A 'database server' that answers SSLRequest with 'N' (no TLS), for the no-downgrade test."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(5)
                    if recv_exact(conn, 8) == struct.pack(">II", 8, 80877103):
                        conn.sendall(b"N")
                        conn.recv(100)
                except (OSError, EOFError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    listener.close()


@pytest.fixture(scope="module")
def gw(pg_server, fake_plain_server, tmp_path_factory):
    pg = pg_server
    upstream = f"127.0.0.1:{pg.port}"
    plain_logins = """[database.logins]
readonly = { user = "app_scram", password = "file:pg_scram" }
md5login = { user = "app_md5", password = "file:pg_md5" }
trusted = { user = "app_trust" }
wrongpw = { user = "app_scram", password = "file:pg_wrong" }
"""
    tls_logins = """[database.logins]
tls = { user = "app_tls", password = "file:pg_tls" }
"""
    databases = f"""
[[database]]
name = "app"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "disable"
{plain_logins}
[[database]]
name = "apptls"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "verify-full"
ca_file = {toml_str(pg.ca_path)}
server_name = "localhost"
{tls_logins}
[[database]]
name = "wrongca"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "verify-full"
ca_file = {toml_str(pg.wrong_ca_path)}
server_name = "localhost"
{tls_logins}
[[database]]
name = "wrongname"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "verify-full"
ca_file = {toml_str(pg.ca_path)}
server_name = "db.example.com"
{tls_logins}
[[database]]
name = "notls"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{fake_plain_server}"
tls = "require"
{tls_logins}
[[database]]
name = "secure"
protocol = "postgres"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "disable"
client_tls = "required"
{plain_logins}
"""
    secrets = {"pg_scram": pg.passwords["app_scram"], "pg_md5": pg.passwords["app_md5"],
               "pg_tls": pg.passwords["app_tls"],
               "pg_wrong": "wrong-CANARY-" + pg.passwords["app_md5"]}
    gateway = CloakroomDb(tmp_path_factory.mktemp("pg-gw"), databases, secrets).start()
    gateway.tokens = []
    try:
        yield gateway
    finally:
        gateway.stop()
        # Nothing Cloakroom printed (stderr, CLI output, audit log) holds a password or a token
        # (the mint output itself is a token, which is expected in the CLI output: skip those).
        gateway.cli_outputs = [o for o in gateway.cli_outputs if not o.startswith("acm_")]
        gateway.assert_never_printed(*secrets.values(), *gateway.tokens)
        # The server never saw a token: not in its connection log, not in a statement.
        log = pg.log_text()
        assert "connection authorized" in log
        for token in gateway.tokens:
            assert token not in log


def mint(gw, *args, valid_for="1h"):
    token = gw.mint(*args, valid_for=valid_for)
    gw.tokens.append(token)
    return token


def psql(gw, database, login, token, sql, dbname="shop", extra=""):
    conninfo = (f"host=127.0.0.1 port={gw.port(database)} user={login} dbname={dbname} "
                f"sslmode=disable connect_timeout=10 {extra}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGPASSWORD": token,
           "PGCONNECT_TIMEOUT": "10", "HOME": str(gw.tmp)}
    return subprocess.run([PSQL, "-X", "-At", "-d", conninfo, "-c", sql], env=env,
                          capture_output=True, text=True, timeout=30)


def assert_no_password(pg, *texts):
    for text in texts:
        for password in pg.passwords.values():
            assert password not in text


# ---- logins ----

def test_psql_scram_login_query_and_audit(gw, pg_server):
    token = mint(gw, "--db", "app", "--db-login", "readonly", "--db-name", "shop")
    result = psql(gw, "app", "readonly", token,
                  "select current_user, name from items order by id")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["app_scram|apple", "app_scram|pear"]
    assert_no_password(pg_server, result.stdout, result.stderr)
    record = wait_audit(gw, lambda r: r["login"] == "readonly" and r["decision"] == "allow")
    assert record["database"] == "app" and record["db_name"] == "shop"
    assert record["protocol"] == "postgres" and record["token_id"]
    assert record["bytes_in"] > 0 and record["bytes_out"] > 0
    assert record["reason"].startswith("upstream login SCRAM-SHA-256; ended by client")


def test_readme_example_psql_uri(gw, pg_server):
    """The README's line, literally: psql "postgres://readonly:$TOKEN@127.0.0.1:PORT/shop" (default
    sslmode=prefer: psql asks for TLS, Cloakroom declines, the login goes on in plaintext on loopback)."""
    token = mint(gw, "--db", "app", "--db-login", "readonly", "--db-name", "shop")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(gw.tmp)}
    uri = f"postgres://readonly:{token}@127.0.0.1:{gw.port('app')}/shop"
    result = subprocess.run([PSQL, "-X", "-At", uri, "-c", "select count(*) from items"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    other = subprocess.run([PSQL, "-X", "-At", uri.replace("/shop", "/postgres"), "-c", "select 1"],
                           env=env, capture_output=True, text=True, timeout=30)
    assert other.returncode != 0
    assert "does not allow" in other.stderr and "postgres" in other.stderr
    assert_no_password(pg_server, result.stdout, result.stderr, other.stdout, other.stderr)


def wait_audit(gw, predicate, timeout=5.0):
    """The first audit record matching `predicate` (records are written when a session ends)."""
    deadline = time.monotonic() + timeout
    while True:
        matches = [r for r in gw.audit() if predicate(r)]
        if matches:
            return matches[0]
        assert time.monotonic() < deadline, f"no such audit record in {gw.audit()}"
        time.sleep(0.05)


def allowed_reasons(gw, login):
    return [r["reason"] for r in gw.audit() if r["login"] == login and r["decision"] == "allow"]


def test_psycopg2_md5_trust_and_parameters(gw, pg_server):
    token = mint(gw, "--db", "app")
    with psycopg2.connect(host="127.0.0.1", port=gw.port("app"), user="md5login", password=token,
                          dbname="shop", application_name="agent-x", sslmode="disable") as conn:
        with conn.cursor() as cur:
            cur.execute("select current_user, current_setting('application_name'), count(*) "
                        "from items")
            assert cur.fetchone() == ("app_md5", "agent-x", 2)
    conn.close()
    conn = psycopg2.connect(host="127.0.0.1", port=gw.port("app"), user="trusted", password=token,
                            dbname="shop", sslmode="disable")
    with conn.cursor() as cur:
        cur.execute("select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert cur.fetchone() == ("app_trust", False)
    conn.close()
    wait_audit(gw, lambda r: r["login"] == "md5login" and r["decision"] == "allow")
    wait_audit(gw, lambda r: r["login"] == "trusted" and r["decision"] == "allow")
    assert allowed_reasons(gw, "md5login")[-1].startswith("upstream login md5;")
    assert allowed_reasons(gw, "trusted")[-1].startswith("upstream login trust;")


def test_upstream_tls_verify_full(gw):
    token = mint(gw, "--db", "apptls", "--db-login", "tls")
    conn = psycopg2.connect(host="127.0.0.1", port=gw.port("apptls"), user="tls", password=token,
                            dbname="shop", sslmode="disable")
    with conn.cursor() as cur:
        # app_tls is rejected without TLS (hostnossl reject), so this proves the upstream TLS.
        cur.execute("select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert cur.fetchone() == ("app_tls", True)
    conn.close()
    # Over TLS the SCRAM exchange is bound to the server certificate (tls-server-end-point).
    wait_audit(gw, lambda r: r["login"] == "tls" and r["decision"] == "allow")
    assert allowed_reasons(gw, "tls")[-1].startswith("upstream login SCRAM-SHA-256-PLUS;")


@pytest.mark.parametrize("database,expect", [
    ("wrongca", "is not trusted"),
    ("wrongname", "hostname mismatch"),
    ("notls", "never falls back to plaintext"),
])
def test_upstream_tls_failures_are_clear(gw, database, expect):
    token = mint(gw, "--db", database)
    status, fields = raw_login(gw.port(database), "tls", token)
    assert status == "error"
    assert fields["C"] == "08006"
    assert expect in fields["M"], fields["M"]
    result = psql(gw, database, "tls", token, "select 1")
    assert result.returncode != 0 and "cloakroom:" in result.stderr


def test_server_refusals_are_passed_on(gw):
    token = mint(gw, "--db", "app")
    # The configured password is wrong: the server's own 28P01, named as the server's refusal.
    status, fields = raw_login(gw.port("app"), "wrongpw", token)
    assert status == "error" and fields["C"] == "28P01", fields
    assert "database server refused the login" in fields["M"]
    assert "password authentication failed" in fields["M"]
    # The database does not exist: checked by the server after authentication.
    status, fields = raw_login(gw.port("app"), "readonly", token, database="nosuchdb")
    assert status == "error" and fields["C"] == "3D000", fields
    assert "nosuchdb" in fields["M"]
    wait_audit(gw, lambda r: r["decision"] == "error" and "3D000" in r["reason"])


# ---- denials ----

def test_bad_and_expired_tokens_are_28P01(gw):
    status, fields = raw_login(gw.port("app"), "readonly", "acm_not-a-real-token")
    assert status == "error" and fields["C"] == "28P01" and fields["S"] == "FATAL"
    assert "not a valid Cloakroom token" in fields["M"]
    assert "acm_not-a-real-token" not in fields["M"]
    expired = mint(gw, "--db", "app", valid_for="1s")
    time.sleep(2.2)
    status, fields = raw_login(gw.port("app"), "readonly", expired)
    assert status == "error" and fields["C"] == "28P01"
    assert "expired" in fields["M"] and expired not in fields["M"]
    result = psql(gw, "app", "readonly", expired, "select 1")
    assert result.returncode != 0 and "expired" in result.stderr
    wait_audit(gw, lambda r: r["decision"] == "deny" and "expired" in r["reason"])


@pytest.mark.parametrize("caveats,user,dbname,expect", [
    (["--db", "apptls"], "readonly", "shop", "does not allow"),            # another database
    (["--db", "app", "--db-login", "md5login"], "readonly", "shop", "readonly"),  # another login
    (["--db", "app", "--db-name", "other"], "readonly", "shop", "shop"),   # another db name
])
def test_token_for_something_else_is_28000(gw, caveats, user, dbname, expect):
    token = mint(gw, *caveats)
    status, fields = raw_login(gw.port("app"), user, token, database=dbname)
    assert status == "error" and fields["C"] == "28000", fields
    assert expect in fields["M"] and token not in fields["M"]


def test_unknown_login(gw):
    token = mint(gw, "--db", "app")
    status, fields = raw_login(gw.port("app"), "nobody", token)
    assert status == "error" and fields["C"] == "28P01"
    assert 'no login "nobody"' in fields["M"]


# ---- cancellation ----

def test_cancel_long_query(gw):
    token = mint(gw, "--db", "app", "--db-login", "readonly")
    conn = psycopg2.connect(host="127.0.0.1", port=gw.port("app"), user="readonly",
                            password=token, dbname="shop", sslmode="disable")
    timer = threading.Timer(0.7, conn.cancel)
    started = time.monotonic()
    timer.start()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        with conn.cursor() as cur:
            cur.execute("select pg_sleep(30)")
    assert time.monotonic() - started < 10
    timer.join()
    conn.rollback()
    with conn.cursor() as cur:  # the session is still usable
        cur.execute("select 42")
        assert cur.fetchone() == (42,)
    conn.close()
    wait_audit(gw, lambda r: r["decision"] == "cancel" and
               r["reason"] == "forwarded to the database server")
    # A made-up key is dropped without reaching the server.
    assert raw_exchange(gw.port("app"), struct.pack(">IIII", 16, 80877102, 1, 2)) is None
    wait_audit(gw, lambda r: r["decision"] == "cancel" and "unknown cancel key" in r["reason"])


# ---- client TLS and malformed input ----

def test_client_tls_required(gw, pg_server):
    token = mint(gw, "--db", "secure", "--db-login", "readonly")
    plain = psql(gw, "secure", "readonly", token, "select 1")
    assert plain.returncode != 0 and "requires TLS (sslmode=require)" in plain.stderr
    secure = psql(gw, "secure", "readonly", token, "select current_user",
                  extra=f"sslmode=verify-ca sslrootcert={gw.ca_path}")
    assert secure.returncode == 0, secure.stderr
    assert secure.stdout.strip() == "app_scram"
    assert_no_password(pg_server, plain.stderr, secure.stdout, secure.stderr)
    # Plain listener: SSLRequest is answered 'N' and the login goes on in plaintext.
    with socket.create_connection(("127.0.0.1", gw.port("app")), timeout=10) as sock:
        sock.sendall(struct.pack(">II", 8, 80877103))
        assert recv_exact(sock, 1) == b"N"
        sock.sendall(struct.pack(">II", 8, 80877104))  # GSSENCRequest
        assert recv_exact(sock, 1) == b"N"
        sock.sendall(startup_packet({"user": "readonly"}))
        assert read_message(sock) == (b"R", struct.pack(">I", 3))


@pytest.mark.parametrize("data,code,text", [
    (struct.pack(">I", 3) + b"xxxx", "08P01", "invalid length of startup packet"),
    (struct.pack(">I", 1 << 20), "08P01", "invalid length of startup packet"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01", "08P01", "invalid length"),  # a TLS ClientHello
    (startup_packet({"user": "readonly"}, version=2 << 16), "0A000",
     "unsupported frontend protocol"),
    (struct.pack(">II", 13, 196608) + b"user\0", "08P01", "has no value"),
    (startup_packet({"database": "shop"}), "28000", "no PostgreSQL user name"),
    (startup_packet({"user": "u", "replication": "true"}), "0A000", "replication"),
])
def test_malformed_startup(gw, data, code, text):
    reply = raw_exchange(gw.port("app"), data)
    assert reply is not None and reply[0] == b"E"
    fields = error_fields(reply[1])
    assert fields["C"] == code and text in fields["M"], fields


def test_malformed_password_message(gw):
    with socket.create_connection(("127.0.0.1", gw.port("app")), timeout=10) as sock:
        sock.sendall(startup_packet({"user": "readonly"}))
        assert read_message(sock)[0] == b"R"
        sock.sendall(b"p" + struct.pack(">I", 8) + b"abcd")  # not NUL-terminated
        kind, body = read_message(sock)
        assert kind == b"E" and error_fields(body)["C"] == "08P01"
    with socket.create_connection(("127.0.0.1", gw.port("app")), timeout=10) as sock:
        sock.sendall(startup_packet({"user": "readonly"}))
        assert read_message(sock)[0] == b"R"
        sock.sendall(b"p" + struct.pack(">I", 1 << 30))  # oversized
        kind, body = read_message(sock)
        assert kind == b"E" and "more than the limit" in error_fields(body)["M"]


# ---- one login per session ----

def logged_in_socket(gw, token, login="readonly"):
    sock = socket.create_connection(("127.0.0.1", gw.port("app")), timeout=10)
    sock.sendall(startup_packet({"user": login, "database": "shop"}))
    assert read_message(sock) == (b"R", struct.pack(">I", 3))
    secret = token.encode() + b"\0"
    sock.sendall(b"p" + struct.pack(">I", 4 + len(secret)) + secret)
    while read_message(sock)[0] != b"Z":
        pass
    return sock


def query_message(sql):
    body = sql.encode() + b"\0"
    return b"Q" + struct.pack(">I", 4 + len(body)) + body


@pytest.mark.parametrize("what,data", [
    ("password", b"p" + struct.pack(">I", 4 + 9) + b"password\0"),
    ("sasl", b"p" + struct.pack(">I", 4 + 5) + b"n,,n="),
    ("startup", startup_packet({"user": "app_md5", "database": "shop"})),
    ("ssl", struct.pack(">II", 8, 80877103)),
    ("gss", struct.pack(">II", 8, 80877104)),
])
def test_no_second_login_inside_a_session(gw, pg_server, what, data):
    token = mint(gw, "--db", "app", "--db-login", "readonly")
    before = len(gw.audit())
    with logged_in_socket(gw, token) as sock:
        sock.sendall(query_message("select current_user"))
        kinds = []
        while True:
            kind, body = read_message(sock)
            kinds.append(kind)
            if kind == b"Z":
                break
        assert b"D" in kinds
        sock.sendall(data + query_message("select 1"))
        kind, body = read_message(sock)
        fields = error_fields(body)
        assert kind == b"E" and fields["C"] == "08P01" and fields["S"] == "FATAL", fields
        assert "Cloakroom's login is the only one in a session" in fields["M"], fields
        with pytest.raises((EOFError, ConnectionResetError)):
            read_message(sock)
    record = gw.audit(wait_for=before + 1)[before]
    assert record["decision"] == "allow" and record["login"] == "readonly", record
    assert "login is the only one in a session" in record["reason"], record


# ---- secrets in replies ----

def test_the_real_password_is_redacted_from_replies(gw, pg_server):
    password = pg_server.passwords["app_scram"]
    stars = "*" * len(password)
    token = mint(gw, "--db", "app", "--db-login", "readonly")
    result = psql(gw, "app", "readonly", token,
                  f"select 'x{password}y', encode('{password}'::bytea, 'hex'), "
                  f"encode('{password}'::bytea, 'base64'), '{password}'::bytea")
    assert result.returncode == 0, result.stderr
    value, hexed, b64, bytea = result.stdout.strip().split("|")
    assert value == f"x{stars}y"
    assert set(hexed) == {"*"} and set(b64) == {"*"} and bytea == "\\x" + "*" * (2 * len(password))
    result = psql(gw, "app", "readonly", token, f'select "{password}"')
    # psql quotes the statement the agent itself wrote ("LINE 1: ..."): the server's message is
    # the first line.
    message = result.stderr.splitlines()[0]
    assert result.returncode != 0 and message == f'ERROR:  column "{stars}" does not exist', message
    result = psql(gw, "app", "readonly", token,
                  f"do $$ begin raise notice 'n=%', '{password}'; end $$")
    assert f"n={stars}" in result.stderr, result.stderr
    conn = psycopg2.connect(host="127.0.0.1", port=gw.port("app"), user="readonly",
                            password=token, dbname="shop", sslmode="disable")
    try:
        with conn.cursor() as cur:
            cur.execute("select %s", (password,))
            assert cur.fetchone() == (stars,)
            cur.execute(f"set application_name = '{password}'")
            assert conn.get_parameter_status("application_name") == stars
    finally:
        conn.close()
    wait_audit(gw, lambda r: "redacted" in r["reason"])


# ---- a token in the user name ----

@pytest.mark.parametrize("form", ["uri-user", "uri-user-and-password", "dbname"])
def test_a_token_sent_as_the_user_name_is_never_echoed(gw, form):
    token = mint(gw, "--db", "app", "--db-login", "readonly", "--db-name", "shop")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(gw.tmp)}
    port = gw.port("app")
    uri = {"uri-user": f"postgres://{token}@127.0.0.1:{port}/shop?sslmode=disable",
           "uri-user-and-password":
               f"postgres://{token}:{token}@127.0.0.1:{port}/shop?sslmode=disable",
           "dbname": f"postgres://readonly:{token}@127.0.0.1:{port}/{token}?sslmode=disable"}[form]
    before = len(gw.audit())
    result = subprocess.run([PSQL, "-X", "-w", "-At", uri, "-c", "select 1"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    if form != "uri-user":  # without a password psql -w gives up before asking Cloakroom
        assert "a token was sent as the" in result.stderr, result.stderr
    assert token not in result.stderr and token not in result.stdout
    record = gw.audit(wait_for=before + 1)[before]
    assert "(a token; not shown)" in (record["login"], record["db_name"]), record
    status, fields = raw_login(port, token, "", database="shop")
    assert status == "error" and fields["C"] == "28P01"
    assert "a token was sent as the user name" in fields["M"] and token not in fields["M"]
    assert token not in gw.stderr_text() and token not in gw.audit_path.read_text()


# ---- the relay's reads and writes (runtime/socket_io.hpp) ----

def test_a_large_result_set_and_a_pipeline_arrive_whole(gw, pg_server):
    """About 8 MB of rows through the relay (many full 32 KiB reads, the reply filter on every
    one), then many statements in one simple-query message and their replies."""
    token = mint(gw, "--db", "app", "--db-login", "readonly", "--db-name", "shop")
    result = psql(gw, "app", "readonly", token,
                  "select i, repeat(md5(i::text), 12) from generate_series(1, 20000) as i")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 20000
    assert rows[0] == "1|" + hashlib.md5(b"1").hexdigest() * 12
    assert rows[-1] == "20000|" + hashlib.md5(b"20000").hexdigest() * 12
    many = ";".join(f"select {i}" for i in range(500))
    result = psql(gw, "app", "readonly", token, many)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(i) for i in range(500)]
    assert_no_password(pg_server, result.stdout, result.stderr)
