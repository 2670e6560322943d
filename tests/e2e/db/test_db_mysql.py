"""The MySQL/MariaDB gateway end to end: a real MariaDB 10.11 (mysql_server.py), `cloakroom serve`
with [[database]] listeners, and the clients an agent would use: the `mariadb` CLI (MariaDB
Connector/C) and PyMySQL. The agent's password is its Cloakroom token; the server only ever sees
the real password, which the agent never sees.
"""
import secrets
import socket
import struct
import subprocess
import threading
import time

import pymysql
import pytest

from dblib import CloakroomDb, toml_str
from mysql_server import RO_PASSWORD, TLS_PASSWORD, mariadb  # noqa: F401 (fixture)

WRONG_PASSWORD = "wrong_pw_3e9d7f20_canary_DO_NOT_LEAK"
ROWS = [(1, "teapot"), (2, "kettle"), (3, "whisk")]


@pytest.fixture(scope="module")
def gw(mariadb, tmp_path_factory):  # noqa: F811
    upstream = f"127.0.0.1:{mariadb.port}"
    databases = f"""
[[database]]
name = "shopdb"
protocol = "mysql"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "disable"
client_tls = "off"
[database.logins]
readonly = {{ user = "shop_ro", password = "file:my_ro" }}
wrongpw = {{ user = "shop_ro", password = "file:my_wrong" }}
tlsuser = {{ user = "shop_tls", password = "file:my_tls" }}

[[database]]
name = "shoptls"
protocol = "mysql"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "verify-full"
ca_file = {toml_str(mariadb.ca_path)}
server_name = "localhost"
client_tls = "required"
[database.logins]
readonly = {{ user = "shop_ro", password = "file:my_ro" }}
tlsuser = {{ user = "shop_tls", password = "file:my_tls" }}

[[database]]
name = "badname"
protocol = "mysql"
listen = "127.0.0.1:0"
upstream = "{upstream}"
tls = "verify-full"
ca_file = {toml_str(mariadb.ca_path)}
server_name = "db.wrong.example"
[database.logins]
readonly = {{ user = "shop_ro", password = "file:my_ro" }}
"""
    secrets = {"my_ro": RO_PASSWORD, "my_tls": TLS_PASSWORD, "my_wrong": WRONG_PASSWORD}
    gateway = CloakroomDb(tmp_path_factory.mktemp("gw"), databases, secrets).start()
    gateway.tokens = []
    gateway.client_outputs = []
    yield gateway
    gateway.stop()
    assert_nothing_leaked(gateway)


def assert_nothing_leaked(gw):
    # Passwords: nowhere in anything Cloakroom printed (serve, CLI, audit). Tokens: not in what
    # serve printed or the audit log (`cloakroom mint` prints them, by design).
    gw.assert_never_printed(RO_PASSWORD, TLS_PASSWORD, WRONG_PASSWORD)
    served = gw.stderr_text() + "".join(gw.stdout_chunks)
    if gw.audit_path.exists():
        served += gw.audit_path.read_text(errors="replace")
    for token in gw.tokens:
        assert token not in served, "a token appeared in cloakroom's output"


def mint(gw, *args, valid_for="1h"):
    token = gw.mint(*args, valid_for=valid_for)
    gw.tokens.append(token)
    return token


def shop_token(gw, db="shopdb", login="readonly"):
    return mint(gw, "--db", db, "--db-login", login, "--db-name", "shop")


def cli(gw, db, user, password, *options, database="shop", query="SELECT id, name FROM items"):
    """The `mariadb` CLI against a Cloakroom listener; returns the finished process."""
    args = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(gw.port(db)), "-u", user,
            f"--password={password}", "--connect-timeout=10", "--batch", "--skip-column-names",
            *options]
    if database:
        args.append(database)
    proc = subprocess.run([*args, "-e", query], capture_output=True, text=True, timeout=30)
    gw.client_outputs += [proc.stdout, proc.stderr]
    return proc


def rows(proc):
    assert proc.returncode == 0, proc.stderr
    return [tuple(int(v) if v.isdigit() else v for v in line.split("\t"))
            for line in proc.stdout.splitlines() if not line.startswith("WARNING: ")]


def connect_pymysql(gw, db, user, password, **kwargs):
    return pymysql.connect(host="127.0.0.1", port=gw.port(db), user=user, password=password,
                           connect_timeout=10, **kwargs)


def last_audit(gw, count_before):
    records = gw.audit(wait_for=count_before + 1)
    assert len(records) > count_before, "no audit record for the session"
    return records[-1]


# ---- working paths ----

def test_mariadb_cli_default_options(gw):
    # libmariadb's ssl option is on by default; with a listener that offers no TLS it falls back
    # to plaintext and answers caching_sha2_password's full-authentication request in clear.
    token = shop_token(gw)
    before = len(gw.audit())
    assert rows(cli(gw, "shopdb", "readonly", token)) == ROWS
    record = last_audit(gw, before)
    assert record["decision"] == "allow" and record["protocol"] == "mysql"
    assert record["login"] == "readonly" and record["db_name"] == "shop"
    assert record["token_id"] and record["bytes_out"] > 0


def test_mariadb_cli_rsa_key_exchange(gw):
    # --skip-ssl: the client asks for Cloakroom's RSA public key and sends the token encrypted.
    token = shop_token(gw)
    assert rows(cli(gw, "shopdb", "readonly", token, "--skip-ssl")) == ROWS


def test_pymysql_rsa_key_exchange(gw):
    token = shop_token(gw)
    conn = connect_pymysql(gw, "shopdb", "readonly", token, database="shop")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, name FROM items WHERE id > %s ORDER BY id", (1,))
            assert cur.fetchall() == tuple(ROWS[1:])
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0].startswith("shop_ro@")
    finally:
        conn.close()


def test_compression_is_not_offered(gw):
    # Cloakroom reads every command (COM_CHANGE_USER is refused) and every reply (secrets are
    # redacted): the greeting offers no compression, and a client asking for it works without.
    token = shop_token(gw)
    proc = cli(gw, "shopdb", "readonly", token, "--compress",
               query="SELECT id, name FROM items; SHOW SESSION STATUS LIKE 'Compression'")
    assert rows(proc)[:3] == ROWS
    assert ("Compression", "OFF") in rows(proc)


def test_mariadb_cli_tls_both_ways(gw, mariadb):  # noqa: F811
    # Client → Cloakroom: TLS verified against Cloakroom's CA; Cloakroom → server: verify-full
    # against the test CA. The shop_tls user REQUIRE SSL proves the upstream leg is TLS.
    token = shop_token(gw, db="shoptls", login="tlsuser")
    proc = cli(gw, "shoptls", "tlsuser", token, "--ssl", f"--ssl-ca={gw.ca_path}",
               "--ssl-verify-server-cert",
               query="SELECT id, name FROM items; SHOW SESSION STATUS LIKE 'Ssl_version'")
    result = rows(proc)
    assert result[:3] == ROWS
    assert result[3][0] == "Ssl_version" and result[3][1].startswith("TLSv1")


def test_mariadb_cli_cleartext_plugin_over_tls(gw):
    token = shop_token(gw, db="shoptls")
    proc = cli(gw, "shoptls", "readonly", token, "--ssl", f"--ssl-ca={gw.ca_path}",
               "--enable-cleartext-plugin", "--default-auth=mysql_clear_password")
    assert rows(proc) == ROWS


def test_pymysql_over_tls(gw):
    token = shop_token(gw, db="shoptls", login="tlsuser")
    conn = connect_pymysql(gw, "shoptls", "tlsuser", token, database="shop",
                           ssl={"ca": str(gw.ca_path)})
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM items")
            assert cur.fetchone() == (3,)
    finally:
        conn.close()


# ---- refusals ----

def test_plaintext_refused_when_listener_requires_tls(gw):
    token = shop_token(gw, db="shoptls")
    proc = cli(gw, "shoptls", "readonly", token, "--skip-ssl")
    assert proc.returncode != 0
    assert "ERROR 3159" in proc.stderr and "requires TLS" in proc.stderr


def test_native_password_only_client_gets_a_clear_error(gw):
    token = shop_token(gw)
    before = len(gw.audit())
    proc = cli(gw, "shopdb", "readonly", token, "--default-auth=mysql_native_password")
    assert proc.returncode != 0
    assert "ERROR 1251" in proc.stderr
    assert "caching_sha2_password" in proc.stderr and "cleartext plugin" in proc.stderr
    assert last_audit(gw, before)["decision"] == "deny"


@pytest.mark.parametrize("case", ["garbage", "other-db", "other-login", "other-name", "no-name"])
def test_tokens_that_do_not_fit_are_access_denied(gw, case):
    database = "shop"
    if case == "garbage":
        token, expect = "acm_not-a-real-token", "not a valid Cloakroom token"
    elif case == "other-db":
        token, expect = shop_token(gw, db="shoptls"), "does not allow"
    elif case == "other-login":
        token, expect = shop_token(gw, login="tlsuser"), "does not allow"
    elif case == "other-name":
        token, expect = shop_token(gw), "does not allow"
        database = "other"
    else:
        token, expect = shop_token(gw), "does not allow"
        database = None
    before = len(gw.audit())
    proc = cli(gw, "shopdb", "readonly", token, database=database, query="SELECT 1")
    assert proc.returncode != 0
    assert "ERROR 1045 (28000)" in proc.stderr, proc.stderr
    assert expect in proc.stderr and "'readonly'" in proc.stderr
    assert token not in proc.stderr
    assert last_audit(gw, before)["decision"] == "deny"


def test_expired_token_is_access_denied(gw):
    # The shortest validity mint allows; expiry is checked in whole seconds.
    token = mint(gw, "--db", "shopdb", "--db-login", "readonly", "--db-name", "shop",
                 valid_for="1s")
    time.sleep(max(0.0, int(time.time()) + 2.05 - time.time()))
    with pytest.raises(pymysql.err.OperationalError) as raised:
        connect_pymysql(gw, "shopdb", "readonly", token, database="shop").close()
    code, message = raised.value.args
    assert code == 1045
    assert "expired" in message and token not in message


def test_wrong_real_password_is_reported_as_the_servers_refusal(gw):
    token = shop_token(gw, login="wrongpw")
    proc = cli(gw, "shopdb", "wrongpw", token)
    assert proc.returncode != 0
    assert "ERROR 1045" in proc.stderr
    assert "database server refused the login" in proc.stderr


def test_upstream_certificate_name_mismatch_fails_clearly(gw):
    token = mint(gw, "--db", "badname", "--db-login", "readonly", "--db-name", "shop")
    before = len(gw.audit())
    proc = cli(gw, "badname", "readonly", token)
    assert proc.returncode != 0
    assert "TLS to database" in proc.stderr and "hostname mismatch" in proc.stderr, (
        proc.stderr + f"(exit {gw.proc.poll()})" + gw.stderr_text())
    record = last_audit(gw, before)
    assert record["decision"] == "error"


def test_malformed_login_packet_gets_an_error_then_close(gw):
    with socket.create_connection(("127.0.0.1", gw.port("shopdb")), timeout=10) as s:
        f = s.makefile("rb")
        header = f.read(4)
        greeting = f.read(int.from_bytes(header[:3], "little"))
        assert greeting[0] == 10 and b"MariaDB" in greeting
        assert b"caching_sha2_password" in greeting
        junk = b"\x05\x82\x00\x00garbage"  # claims protocol 4.1, then ends mid-field
        s.sendall(struct.pack("<I", len(junk))[:3] + b"\x01" + junk)
        header = f.read(4)
        payload = f.read(int.from_bytes(header[:3], "little"))
        assert header[3] == 2 and payload[0] == 0xFF
        assert struct.unpack("<H", payload[1:3])[0] == 1043
        assert b"malformed" in payload
        assert f.read(1) == b""  # closed


# ---- one login per session ----

def change_user_payload(user, database="shop"):
    # COM_CHANGE_USER: user, auth response (length byte), database, charset, plugin name.
    return (user.encode() + b"\0" + b"\x14" + b"A" * 20 + database.encode() + b"\0"
            + b"\x21\x00" + b"mysql_native_password\0")


def test_change_user_is_refused_and_the_session_goes_on(gw, mariadb):  # noqa: F811
    from pymysql.constants import COMMAND
    token = shop_token(gw)
    before = len(gw.audit())
    conn = connect_pymysql(gw, "shopdb", "readonly", token, database="shop")
    try:
        for user, database in (("root", "mysql"), ("shop_tls", "shop"), ("shop_ro", "other")):
            conn._execute_command(COMMAND.COM_CHANGE_USER, change_user_payload(user, database))
            with pytest.raises(pymysql.err.MySQLError) as refused:
                conn._read_packet()
            code, message = refused.value.args
            assert code == 1227 and "COM_CHANGE_USER is refused" in message, refused.value.args
            with conn.cursor() as cur:  # the same login, the same database
                cur.execute("SELECT CURRENT_USER(), DATABASE()")
                assert cur.fetchone()[0].startswith("shop_ro@")
        # Pipelined: the refusal answers in its place among the replies.
        conn._execute_command(COMMAND.COM_QUERY, "SELECT 1")
        conn._execute_command(COMMAND.COM_CHANGE_USER, change_user_payload("root", "mysql"))
        conn._execute_command(COMMAND.COM_QUERY, "SELECT 2")
        # (PyMySQL does not pipeline itself: each reply starts again at sequence id 1.)
        first = conn._read_query_result()
        assert first == 1
        conn._next_seq_id = 1
        with pytest.raises(pymysql.err.MySQLError) as refused:
            conn._read_packet()
        assert refused.value.args[0] == 1227
        conn._next_seq_id = 1
        conn._read_query_result()
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0].startswith("shop_ro@")
        # COM_RESET_CONNECTION keeps the login: it passes.
        conn._execute_command(0x1F, b"")
        conn._read_ok_packet()
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0].startswith("shop_ro@")
    finally:
        conn.close()
    record = last_audit(gw, before)
    assert record["decision"] == "allow"
    assert "refused 4 commands (COM_CHANGE_USER" in record["reason"], record
    log = mariadb.general_log_text()
    assert "Change user" not in log, "a COM_CHANGE_USER reached the server"


# ---- secrets ----

def test_the_real_password_is_redacted_from_replies(gw):
    token = shop_token(gw)
    stars = "*" * len(RO_PASSWORD)
    outputs_before = len(gw.client_outputs)
    proc = cli(gw, "shopdb", "readonly", token,
               query=f"SELECT 'x{RO_PASSWORD}y', HEX('{RO_PASSWORD}'), TO_BASE64('{RO_PASSWORD}')")
    assert proc.returncode == 0, proc.stderr
    value, hexed, b64 = proc.stdout.strip().split("\t")
    assert value == f"x{stars}y"
    assert set(hexed) == {"*"} and set(b64) == {"*"}, proc.stdout
    proc = cli(gw, "shopdb", "readonly", token, query=f"SELECT * FROM `{RO_PASSWORD}`")
    assert proc.returncode != 0
    assert "ERROR 1146" in proc.stderr and stars in proc.stderr, proc.stderr
    # The CLI prints the failed statement itself, which the agent wrote: only the server's part
    # of its output is checked.
    assert RO_PASSWORD not in proc.stderr.split("ERROR 1146")[1]
    del gw.client_outputs[outputs_before:]
    conn = connect_pymysql(gw, "shopdb", "readonly", token, database="shop")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT %s, CONCAT(name, %s) FROM items WHERE id = 1", (RO_PASSWORD, RO_PASSWORD))
            assert cur.fetchone() == (stars, "teapot" + stars)
            with pytest.raises(pymysql.err.MySQLError) as raised:
                cur.execute(f"SELECT nosuchcolumn_{RO_PASSWORD}")
            assert RO_PASSWORD not in str(raised.value) and stars in str(raised.value)
    finally:
        conn.close()


@pytest.mark.parametrize("password", ["token", "empty"])
def test_a_token_sent_as_the_user_name_is_never_echoed(gw, password):
    token = shop_token(gw)
    before = len(gw.audit())
    proc = cli(gw, "shopdb", token, token if password == "token" else "", query="SELECT 1")
    assert proc.returncode != 0
    assert "a token was sent as the user name; send it as the password" in proc.stderr, proc.stderr
    assert token not in proc.stderr and token not in proc.stdout
    record = last_audit(gw, before)
    assert record["decision"] == "deny" and record["login"] == "(a token; not shown)", record
    assert token not in gw.stderr_text() and token not in gw.audit_path.read_text()



def test_secrets_stay_where_they_belong(gw, mariadb):  # noqa: F811
    assert gw.proc.poll() is None, "cloakroom exited:\n" + gw.stderr_text()
    log = mariadb.general_log_text()
    assert "shop_ro@" in log  # the server did log the logins...
    for token in gw.tokens:
        assert token not in log  # ...but never saw a token
    for output in gw.client_outputs:
        for secret in (RO_PASSWORD, TLS_PASSWORD, WRONG_PASSWORD):
            assert secret not in output
    assert_nothing_leaked(gw)


def test_rsa_key_is_made_at_start_up_before_any_database_server_is_dialed(tmp_path):
    """A 4096-bit RSA key (for clients without TLS) takes seconds on a busy machine. Once Cloakroom
    has dialed the database server, the server's own login timeout runs (MariaDB's
    connect_timeout, 10 s): the key is made at start-up, and a session that arrives before it is
    ready waits for it before dialing (docs/databases-mysql.md). Proven by the order of two log
    lines on one stream: the key's "ready" line, then the warning about the server's greeting,
    which Cloakroom can only log after dialing. A stand-in server answers every connection with
    an ERR greeting naming the test's marker."""
    marker = f"too many connections {secrets.token_hex(6)}"
    greeting_err = b"\xff" + struct.pack("<H", 1040) + marker.encode()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    dialed = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            dialed.append(True)
            with conn:
                conn.sendall(struct.pack("<I", len(greeting_err))[:3] + b"\x00" + greeting_err)
    threading.Thread(target=serve, daemon=True).start()
    databases = f"""
[[database]]
name = "early"
protocol = "mysql"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{server.getsockname()[1]}"
tls = "disable"
client_tls = "off"
[database.logins]
readonly = {{ user = "shop_ro", password = "file:my" }}
"""
    g = CloakroomDb(tmp_path / "gw", databases, {"my": secrets.token_hex(8)}).start()
    try:
        # A client at once, while the key may still be in the making.
        with socket.create_connection(("127.0.0.1", g.port("early")), timeout=30) as client:
            received = b""
            while chunk := client.recv(4096):
                received += chunk
        assert marker.encode() in received, received
        ready, refused = "RSA key for clients without TLS ready", marker
        with g.cond:
            g.cond.wait_for(lambda: any(refused in line for line in g.stderr_lines) and
                            any(ready in line for line in g.stderr_lines), 60)
            lines = list(g.stderr_lines)
        at_ready = next((i for i, line in enumerate(lines) if ready in line), None)
        at_refused = next((i for i, line in enumerate(lines) if refused in line), None)
        assert at_ready is not None and at_refused is not None, "".join(lines)
        assert at_ready < at_refused, "".join(lines)
        assert dialed
    finally:
        server.close()
        g.stop()
