"""The Redis gateway end to end: real redis-server 7 (redis_server.py), real `cloakroom serve`,
real clients (redis-cli and python3-redis). The agent authenticates with its token as the
password; Cloakroom logs in upstream with the real password and relays, enforcing the token's
command caveats.
"""
import secrets
import socket
import subprocess
import time

import pytest
import redis

from dblib import CloakroomDb, toml_str
from redis_server import encode, redis_server  # noqa: F401  (session fixture)

CLIENT_OUTPUTS = []  # everything the clients printed, for the password canary check


def database(name, upstream_port, logins, tls="disable", extra=""):
    lines = [
        "[[database]]",
        f'name = "{name}"',
        'protocol = "redis"',
        'listen = "127.0.0.1:0"',
        f'upstream = "127.0.0.1:{upstream_port}"',
        f'tls = "{tls}"',
        extra,
        "[database.logins]",
    ]
    lines += [f'{login} = {{ user = "{user}", password = "file:{secret}" }}'
              for login, (user, secret) in logins.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def gw(redis_server, tmp_path_factory):  # noqa: F811
    rs = redis_server
    both = {"default": ("default", "redis_default"), "app": ("app", "redis_app")}
    toml = (
        database("cache", rs.port, both, extra='client_tls = "off"')
        + database("cache_tls", rs.tls_port, {"app": ("app", "redis_app")}, tls="verify-full",
                   extra=f'ca_file = {toml_str(rs.ca)}\nserver_name = "localhost"')
        + database("cache_badname", rs.tls_port, {"app": ("app", "redis_app")}, tls="verify-full",
                   extra=f'ca_file = {toml_str(rs.ca)}\nserver_name = "wrong.example"')
        + database("cache_multi", rs.port,
                   {"app": ("app", "redis_app"), "ops": ("default", "redis_default")})
        + database("cache_wrongpw", rs.port, {"app": ("app", "redis_wrong")})
        + database("cache_ctls", rs.port, both, extra='client_tls = "required"')
    )
    secrets = {"redis_default": rs.default_password, "redis_app": rs.app_password,
               "redis_wrong": "redis_wrong_canary_0b5e"}
    monitor = rs.monitor()
    g = CloakroomDb(tmp_path_factory.mktemp("gw"), toml, secrets).start()
    g.monitor = monitor
    g.tokens = {
        "any": g.mint("--db", "cache"),
        "app": g.mint("--db", "cache", "--db-login", "app"),
        "read": g.mint("--db", "cache", "--db-login", "app", "--db-commands", "@read"),
        "tx": g.mint("--db", "cache", "--db-login", "app", "--db-commands", "@read,MULTI,EXEC"),
        "other": g.mint("--db", "somewhere_else"),
        "tls": g.mint("--db", "cache_tls,cache_badname"),
        "multi": g.mint("--db", "cache_multi"),
        "wrongpw": g.mint("--db", "cache_wrongpw"),
        "ctls": g.mint("--db", "cache_ctls"),
    }
    yield g
    g.stop()
    monitor.close()
    real = [rs.default_password, rs.app_password, secrets["redis_wrong"]]
    g.assert_never_printed(*real)
    # Tokens: `mint` prints them, so check what serve itself wrote (log and audit).
    served = g.stderr_text() + "".join(g.stdout_chunks) + g.audit_path.read_text()
    for token in g.tokens.values():
        assert token not in served, "a token appeared in serve's log or audit"
    for output in CLIENT_OUTPUTS:
        for value in real:
            assert value not in output, "a real password reached a client"


def cli(port, *args, tls_ca=None):
    command = ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--no-auth-warning"]
    if tls_ca:
        command += ["--tls", "--cacert", str(tls_ca)]
    proc = subprocess.run(command + list(args), capture_output=True, text=True, timeout=20)
    CLIENT_OUTPUTS.extend([proc.stdout, proc.stderr])
    return (proc.stdout + proc.stderr).strip()


def client(gw, name="cache", user=None, token_name="app", **kwargs):
    return redis.Redis(host="127.0.0.1", port=gw.port(name), username=user,
                       password=gw.tokens[token_name], decode_responses=True, socket_timeout=10,
                       **kwargs)


class Raw:
    """A plain socket speaking RESP, to see exact replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes):
        self.sock.sendall(data)

    def reply(self):
        line = self.file.readline()
        if not line:
            return EOFError()
        kind, rest = line[:1], line[1:-2].decode()
        if kind in (b"+", b":", b"_", b",", b"#"):
            return rest
        if kind == b"-":
            return Exception(rest)
        if kind in (b"$", b"!", b"="):
            if rest == "-1":
                return None
            data = self.file.read(int(rest) + 2)[:-2].decode()
            return Exception(data) if kind == b"!" else data
        if kind in (b"*", b">", b"~"):
            return None if rest == "-1" else [self.reply() for _ in range(int(rest))]
        if kind == b"%":
            return {self.reply(): self.reply() for _ in range(int(rest))}
        raise AssertionError(f"unexpected reply {line!r}")

    def closed(self) -> bool:
        return self.file.read(1) == b""

    def close(self):
        self.file.close()  # the file holds the socket open too
        self.sock.close()


def disconnect(r: redis.Redis):
    """Closes the client's connections now (python3-redis 4.3's close() keeps them pooled)."""
    r.connection_pool.disconnect()


def eventually(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def error_text(value) -> str:
    assert isinstance(value, Exception), f"expected an error, got {value!r}"
    return str(value)


# ---- logging in ----


def test_auth_token_selects_the_default_login(gw, redis_server):
    port = gw.port("cache")
    assert cli(port, "-a", gw.tokens["any"], "ACL", "WHOAMI") == "default"
    assert cli(port, "-a", gw.tokens["any"], "SET", "e2e:k1", "v1") == "OK"
    assert redis_server.direct().get("e2e:k1") == "v1"
    assert cli(port, "-a", gw.tokens["any"], "GET", "e2e:k1") == "v1"


def test_auth_user_token_with_python_redis(gw, redis_server):
    r = client(gw, user="app")
    assert r.acl_whoami() == "app"
    pipe = r.pipeline(transaction=False)
    pipe.set("e2e:py", "1").incr("e2e:py").get("e2e:py")
    assert pipe.execute() == [True, 2, "2"]
    assert redis_server.direct("app").get("e2e:py") == "2"
    assert cli(gw.port("cache"), "--user", "app", "--pass", gw.tokens["app"], "ACL", "WHOAMI") == "app"


def test_hello3_auth_relays_the_servers_hello_reply(gw, redis_server):
    redis_server.direct().hset("e2e:h", "f", "v")
    out = cli(gw.port("cache"), "-3", "--no-raw", "--user", "app", "--pass", gw.tokens["app"], "HGETALL", "e2e:h")
    assert out == '1# "f" => "v"', out  # RESP3 map: the upstream speaks RESP3 to the client
    raw = Raw(gw.port("cache"))
    raw.send(encode("HELLO", "3", "AUTH", "app", gw.tokens["app"], "SETNAME", "agent-7")
             + encode("CLIENT", "GETNAME") + encode("ACL", "WHOAMI"))
    hello = raw.reply()
    assert isinstance(hello, dict) and hello["proto"] == "3" and hello["server"] == "redis", hello
    assert raw.reply() == "agent-7"
    assert raw.reply() == "app"
    raw.close()


def test_upstream_tls_verify_full(gw, redis_server):
    port = gw.port("cache_tls")
    assert cli(port, "-a", gw.tokens["tls"], "SET", "e2e:tls", "over-tls") == "OK"
    assert cli(port, "-a", gw.tokens["tls"], "GET", "e2e:tls") == "over-tls"
    assert redis_server.direct().get("e2e:tls") == "over-tls"
    out = cli(gw.port("cache_badname"), "-a", gw.tokens["tls"], "PING")
    assert "Cloakroom: cannot reach the database: TLS to database" in out, out
    assert "wrong.example" in out or "hostname" in out.lower() or "mismatch" in out.lower(), out


def test_client_tls_required(gw):
    port = gw.port("cache_ctls")
    assert cli(port, "-a", gw.tokens["ctls"], "ACL", "WHOAMI", tls_ca=gw.ca_path) == "default"
    out = cli(port, "-a", gw.tokens["ctls"], "PING")
    assert "this port requires TLS" in out, out


# ---- denials ----


def test_bad_expired_and_out_of_scope_tokens(gw):
    port = gw.port("cache")
    expired = gw.mint("--db", "cache", valid_for="1s")
    gw.tokens["expired"] = expired
    out = cli(port, "-a", "not-a-token", "PING")
    assert "WRONGPASS invalid username-password pair or user is disabled. Cloakroom:" in out, out
    assert "not a valid Cloakroom token" in out, out
    assert "NOAUTH Authentication required." in out  # redis-cli still ran PING, unauthenticated
    out = cli(port, "-a", gw.tokens["other"], "PING")
    assert "NOPERM Cloakroom: the Cloakroom token does not allow login" in out, out
    # A token for login "app" used with AUTH <token> (login "default"):
    out = cli(port, "-a", gw.tokens["app"], "PING")
    assert "NOPERM Cloakroom:" in out and '"default"' in out, out
    out = cli(port, "--user", "nobody", "--pass", gw.tokens["any"], "PING")
    assert "WRONGPASS" in out and 'has no login "nobody"' in out, out
    time.sleep(2.1)
    out = cli(port, "-a", expired, "PING")
    assert "WRONGPASS" in out and "expired" in out, out
    assert eventually(lambda: any(r["decision"] == "deny" and "has expired" in r["reason"]
                                  and r["login"] == "default" for r in gw.audit())), gw.audit()


def test_before_login_like_redis(gw):
    raw = Raw(gw.port("cache"))
    raw.send(encode("PING") + b"GET x\r\n" + encode("HELLO", "3") + encode("AUTH")
             + encode("HELLO", "3", "AUTH", "app", gw.tokens["app"], "EXTRA") + encode("QUIT"))
    assert error_text(raw.reply()) == "NOAUTH Authentication required."
    assert error_text(raw.reply()) == "NOAUTH Authentication required."
    assert error_text(raw.reply()).startswith("NOAUTH HELLO must be called with the client already")
    assert error_text(raw.reply()) == "ERR wrong number of arguments for 'auth' command"
    hello_error = error_text(raw.reply())
    assert hello_error.startswith("ERR Syntax error in HELLO options"), hello_error
    assert gw.tokens["app"] not in hello_error
    assert raw.reply() == "OK"
    assert raw.closed()


def test_inline_login_split_into_single_bytes(gw, redis_server):
    redis_server.direct().set("e2e:inline", "yes")
    raw = Raw(gw.port("cache"))
    for byte in f"AUTH app {gw.tokens['app']}\r\nGET e2e:inline\r\n".encode():
        raw.send(bytes([byte]))
    assert raw.reply() == "OK"
    assert raw.reply() == "yes"
    raw.close()


def test_auth_without_login_needs_one_when_there_are_several(gw):
    port = gw.port("cache_multi")
    out = cli(port, "-a", gw.tokens["multi"], "PING")
    assert "several logins (app, ops); use AUTH <login> <token>" in out, out
    assert cli(port, "--user", "ops", "--pass", gw.tokens["multi"], "ACL", "WHOAMI") == "default"


def test_upstream_refusing_the_real_password(gw):
    out = cli(gw.port("cache_wrongpw"), "--user", "app", "--pass", gw.tokens["wrongpw"], "PING")
    assert "Cloakroom: the database refused Cloakroom's login for 'app': WRONGPASS" in out, out
    assert "redis_wrong_canary" not in out


# ---- after login ----


def test_read_caveat_refuses_writes_in_place_in_a_pipeline(gw, redis_server):
    redis_server.direct().set("e2e:ro", "before")
    r = client(gw, user="app", token_name="read")
    pipe = r.pipeline(transaction=False)
    pipe.get("e2e:ro").set("e2e:ro", "after").exists("e2e:ro").delete("e2e:ro").ttl("e2e:ro")
    results = pipe.execute(raise_on_error=False)
    assert results[0] == "before"
    # redis-py maps the NOPERM code to NoPermissionError, like a Redis ACL denial.
    assert isinstance(results[1], redis.exceptions.NoPermissionError)
    assert str(results[1]) == "Cloakroom: this token does not allow 'SET'"
    assert results[2] == 1
    assert "this token does not allow 'DEL'" in str(results[3])
    assert results[4] == -1
    assert redis_server.direct().get("e2e:ro") == "before"
    assert r.ping() is True  # always allowed
    out = cli(gw.port("cache"), "--user", "app", "--pass", gw.tokens["read"], "SET", "e2e:ro", "x")
    assert out == "NOPERM Cloakroom: this token does not allow 'SET'", out
    assert redis_server.direct().get("e2e:ro") == "before"
    disconnect(r)
    assert eventually(lambda: any(
        rec["decision"] == "allow" and "refused 2 of" in rec["reason"]
        and "(SET, DEL)" in rec["reason"] for rec in gw.audit())), gw.audit()


def test_refused_command_inside_multi_aborts_the_transaction(gw, redis_server):
    redis_server.direct().set("e2e:tx", "0")
    raw = Raw(gw.port("cache"))
    raw.send(encode("AUTH", "app", gw.tokens["tx"]) + encode("MULTI") + encode("GET", "e2e:tx")
             + encode("INCR", "e2e:tx") + encode("EXEC"))
    assert raw.reply() == "OK"
    assert raw.reply() == "OK"
    assert raw.reply() == "QUEUED"
    assert error_text(raw.reply()) == "NOPERM Cloakroom: this token does not allow 'INCR'"
    assert error_text(raw.reply()).startswith("EXECABORT")
    raw.close()
    assert redis_server.direct().get("e2e:tx") == "0"


def test_reauthentication_is_refused(gw, redis_server):
    failures_before = len(redis_server.direct().acl_log())
    r = client(gw, user="app", token_name="app")
    for command in (("AUTH", "default", redis_server.default_password),
                    ("AUTH", "app", "guess"),
                    ("HELLO", "3", "AUTH", "default", redis_server.default_password),
                    ("RESET",)):
        with pytest.raises(redis.exceptions.NoPermissionError) as refused:
            r.execute_command(*command)
        assert str(refused.value).startswith("Cloakroom: "), refused.value
    assert r.acl_whoami() == "app"
    # Never reached the server: a wrong AUTH there would have been logged in ACL LOG.
    assert len(redis_server.direct().acl_log()) == failures_before
    disconnect(r)


def test_subscriptions_and_refusals_in_resp3(gw, redis_server):
    raw = Raw(gw.port("cache"))
    raw.send(encode("HELLO", "3", "AUTH", "app", gw.tokens["app"]) + encode("SUBSCRIBE", "e2e:ch"))
    assert raw.reply()["proto"] == "3"
    assert raw.reply() == ["subscribe", "e2e:ch", "1"]
    assert eventually(lambda: redis_server.direct().publish("e2e:ch", "hi") == 1)
    assert raw.reply() == ["message", "e2e:ch", "hi"]
    raw.send(encode("AUTH", "default", redis_server.default_password) + encode("PING"))
    assert error_text(raw.reply()).startswith("NOPERM Cloakroom: AUTH after login is refused")
    assert raw.reply() == "PONG"
    raw.close()


def test_protocol_error_after_login(gw):
    raw = Raw(gw.port("cache"))
    raw.send(encode("AUTH", gw.tokens["any"]) + encode("SET", "e2e:p", "1") + b"*1\r\n:1\r\n")
    assert raw.reply() == "OK"
    assert raw.reply() == "OK"
    assert error_text(raw.reply()) == "ERR Protocol error: expected '$', got ':'"
    assert raw.closed()
    # Inside a command already partly forwarded: the upstream connection is dropped, and the
    # client still learns why.
    raw = Raw(gw.port("cache"))
    raw.send(encode("AUTH", gw.tokens["any"]) + b"*2\r\n$3\r\nGET\r\n$1\r\nab\r\n")
    assert raw.reply() == "OK"
    assert error_text(raw.reply()) == "ERR Protocol error: expected CRLF after an argument"
    assert raw.closed()


def test_large_values_stream_through(gw, redis_server):
    big = "x" * (3 * 1024 * 1024)
    r = client(gw, user="app")
    r.set("e2e:big", big)
    assert r.get("e2e:big") == big
    assert redis_server.direct().strlen("e2e:big") == len(big)
    disconnect(r)
    ro = client(gw, user="app", token_name="read")
    with pytest.raises(redis.exceptions.ResponseError, match="does not allow 'SET'"):
        ro.set("e2e:big", "y" * (2 * 1024 * 1024))
    assert ro.strlen("e2e:big") == len(big)
    disconnect(ro)


def test_upstream_never_sees_a_token(gw, redis_server):
    # Evidence from the server side: MONITOR saw the agents' commands, never a token.
    cli(gw.port("cache"), "-a", gw.tokens["any"], "SET", "e2e:last", "seen")
    deadline = time.monotonic() + 5
    while '"e2e:last"' not in gw.monitor.text() and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = gw.monitor.text()
    assert '"SET" "e2e:last" "seen"' in seen
    assert "acm_" not in seen
    for token in gw.tokens.values():
        assert token not in seen
    acl_log = str(redis_server.direct().acl_log())
    assert "acm_" not in acl_log


# ---- credentials never reach the agent ----


def read_until(raw, needles, timeout=10.0) -> bytes:
    """Raw bytes from the connection until one of `needles` arrived (for replies too deep to parse
    recursively)."""
    raw.sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while not any(n in data for n in needles) and time.monotonic() < deadline:
        chunk = raw.sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    return data


def test_credential_reads_are_refused(gw, redis_server):
    port = gw.port("cache")
    for args in (["CONFIG", "GET", "requirepass"], ["CONFIG", "GET", "*"],
                 ["config", "get", "REQUIREPASS"], ["CONFIG", "GET", "maxmemory", "master*"],
                 ["CONFIG", "GET", "re?uirepass"], ["ACL", "LIST"], ["ACL", "GETUSER", "default"]):
        out = cli(port, "-a", gw.tokens["any"], *args)
        assert out.startswith("NOPERM Cloakroom:"), (args, out)
        assert redis_server.default_password not in out
    assert cli(port, "-a", gw.tokens["any"], "CONFIG", "GET", "maxmemory") == "maxmemory\n0"
    r = client(gw, user="app")
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.config_get("requirepass")
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.config_get("*")
    assert r.ping() is True  # the session goes on
    disconnect(r)
    assert eventually(lambda: any("refused 2 of" in rec["reason"] and "(CONFIG, CONFIG)" in rec["reason"]
                                  for rec in gw.audit())), gw.audit()


def test_a_token_that_names_config_get_may_read_it_but_the_password_is_redacted(gw, redis_server):
    token = gw.mint("--db", "cache", "--db-login", "default", "--db-commands", "CONFIG|GET,PING")
    gw.tokens["config"] = token
    out = cli(gw.port("cache"), "-a", token, "CONFIG", "GET", "requirepass")
    password = redis_server.default_password
    assert out == "requirepass\n" + "*" * len(password), out


def test_the_sessions_password_is_redacted_from_every_reply(gw, redis_server):
    password = redis_server.default_password
    stars = "*" * len(password)
    direct = redis_server.direct()
    direct.set("e2e:pw", "before " + password + " after")
    direct.set("e2e:pwhex", password.encode().hex())
    port = gw.port("cache")
    token = gw.tokens["any"]  # login "default": the session's password is requirepass
    assert cli(port, "-a", token, "GET", "e2e:pw") == f"before {stars} after"
    assert cli(port, "-a", token, "GET", "e2e:pwhex") == "*" * (2 * len(password))
    assert cli(port, "-a", token, "ECHO", password) == stars
    out = cli(port, "-a", token, "EVAL", "return redis.error_reply('bad ' .. ARGV[1])", "0", password)
    assert out == f"(error) bad {stars}" or out == f"bad {stars}", out
    out = cli(port, "-a", token, "EVAL", "return {ARGV[1], {ARGV[1]}}", "0", password)
    assert password not in out and out.count(stars) == 2, out
    r = client(gw, token_name="any")
    assert r.get("e2e:pw") == f"before {stars} after"
    disconnect(r)
    assert eventually(lambda: any("redacted" in rec["reason"] for rec in gw.audit())), gw.audit()


def test_refusals_keep_their_form_after_a_deeply_nested_reply(gw, redis_server):
    token = gw.mint("--db", "cache", "--db-login", "app", "--db-commands", "@read,EVAL")
    gw.tokens["eval"] = token
    raw = Raw(gw.port("cache"))
    raw.send(encode("AUTH", "app", token))
    assert raw.reply() == "OK"
    script = "local t = {} for i = 1, tonumber(ARGV[1]) do t = {t} end return t"
    for depth in ("1500", "2500"):
        raw.send(encode("EVAL", script, "0", depth) + encode("SET", "e2e:deep", "x")
                 + encode("GET", "e2e:deep"))
        data = read_until(raw, [b"$-1\r\n"])  # GET's answer comes last
        assert data.count(b"*1\r\n") > 1024, data[:100]  # deeper than the old limit
        assert data.endswith(b"-NOPERM Cloakroom: this token does not allow 'SET'\r\n$-1\r\n"), \
            data[-200:]
        assert b"cloakroom.refused" not in data
    raw.close()
    assert redis_server.direct().get("e2e:deep") is None


def test_reauthentication_in_every_form_after_login(gw, redis_server):
    raw = Raw(gw.port("cache"))
    raw.send(encode("AUTH", "app", gw.tokens["app"]))
    assert raw.reply() == "OK"
    forms = [encode("AUTH", redis_server.default_password),
             encode("AUTH", "default", redis_server.default_password),
             f"AUTH default {redis_server.default_password}\r\n".encode(),  # inline
             encode("HELLO", "2", "AUTH", "default", redis_server.default_password),
             encode("HELLO", "3", "SETNAME", "x", "auth", "default", redis_server.default_password),
             b"hello 3 AUTH default guess\r\n",
             encode("RESET")]
    for form in forms:
        raw.send(form + encode("ACL", "WHOAMI"))
        refused = error_text(raw.reply())
        assert refused.startswith("NOPERM Cloakroom:"), (form, refused)
        assert raw.reply() == "app"
    raw.close()


@pytest.mark.parametrize("how", ["auth", "hello", "cli"])
def test_token_sent_as_the_user_name_is_never_echoed(gw, how):
    token = gw.tokens["app"]
    if how == "cli":
        out = cli(gw.port("cache"), "--user", token, "--pass", token, "PING")
    else:
        raw = Raw(gw.port("cache"))
        raw.send(encode("AUTH", token, token) if how == "auth"
                 else encode("HELLO", "3", "AUTH", token, "whatever"))
        out = error_text(raw.reply())
        raw.close()
    assert "a token was sent as the user name; send it as the password" in out, out
    assert token not in out and "acm_" not in out
    assert eventually(lambda: any(r["decision"] == "deny" and r["login"] == "(a token; not shown)"
                                  for r in gw.audit())), gw.audit()
    served = gw.stderr_text() + gw.audit_path.read_text()
    assert token not in served


# ---- the relay's reads and writes (runtime/socket_io.hpp) ----

def session_record(gw, raw):
    """The audit record of the session `raw` had, once the gateway has written it."""
    client = "127.0.0.1:%d" % raw.sock.getsockname()[1]
    found = []

    def written():
        found[:] = [r for r in gw.audit() if r.get("client") == client]
        return bool(found)
    assert eventually(written, timeout=10), f"no audit record for {client}"
    return found[0]


def test_a_command_and_the_close_in_one_segment_end_the_session(gw, redis_server):
    """TCP hands out the last bytes and consumes the FIN behind them in the same read: the relay
    must still see the end of the stream, not wait for a readiness report that already came."""
    raw = Raw(gw.port("cache"))
    raw.send(f"AUTH app {gw.tokens['app']}\r\n".encode())
    assert raw.reply() == "OK"
    time.sleep(0.2)  # the relay has drained the socket and waits for the next bytes
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # bytes and FIN in one segment
    raw.send(b"SET e2e:fin-in-segment yes\r\n")
    raw.sock.shutdown(socket.SHUT_WR)
    raw.sock.settimeout(10)
    # The session ends: the gateway closes the connection (the reply may or may not come first).
    rest = b""
    while True:
        chunk = raw.sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    assert rest in (b"", b"+OK\r\n"), rest
    assert eventually(lambda: redis_server.direct().get("e2e:fin-in-segment") == "yes")
    record = session_record(gw, raw)
    assert "ended by client" in record["reason"], record
    raw.close()


def test_large_replies_to_a_client_that_reads_late_arrive_whole_and_in_order(gw, redis_server):
    """16 MB of replies queued while the client does not read: the socket buffers fill, the
    relay's sends stop taking bytes, and it must finish them through the reactor, whole and in
    order; the session then goes on."""
    values = [secrets.token_hex(2 * 1024 * 1024) for _ in range(4)]  # 4 MB each
    direct = redis_server.direct()
    for i, value in enumerate(values):
        direct.set(f"e2e:late-{i}", value)
    raw = Raw(gw.port("cache"))
    raw.send(f"AUTH app {gw.tokens['app']}\r\n".encode())
    assert raw.reply() == "OK"
    raw.send(b"".join(f"GET e2e:late-{i}\r\n".encode() for i in range(len(values))))
    time.sleep(1)  # not reading: whatever the timing, the replies must arrive whole
    raw.sock.settimeout(30)
    for value in values:
        assert raw.reply() == value
    raw.send(b"PING\r\n")
    assert raw.reply() == "PONG"
    raw.close()


def test_pipelined_benchmark_passes_every_reply(gw, redis_server):
    """redis-benchmark -P 16: 16 commands per write, replies coalesced; every reply must come
    back in order or the benchmark stalls or reports errors."""
    proc = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(gw.port("cache")),
                           "--user", "app", "-a", gw.tokens["app"], "-t", "set,get,lpush,lrange_100",
                           "-n", "20000", "-c", "8", "-P", "16", "-q", "--csv"],
                          capture_output=True, text=True, timeout=120)
    CLIENT_OUTPUTS.extend([proc.stdout, proc.stderr])
    assert proc.returncode == 0, proc.stderr
    rows = {line.split(",")[0].strip('"'): line for line in proc.stdout.splitlines()[1:]}
    assert {"SET", "GET", "LPUSH"} <= set(rows), proc.stdout
    assert "error" not in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
    assert len(redis_server.direct().get("key:__rand_int__")) == 3  # -d 3, the default
    # The command filter is still on the path: a read-only token's pipelined writes are refused.
    proc = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(gw.port("cache")),
                           "--user", "app", "-a", gw.tokens["read"], "-t", "set", "-n", "64",
                           "-c", "1", "-P", "16", "-q"], capture_output=True, text=True, timeout=60)
    CLIENT_OUTPUTS.extend([proc.stdout, proc.stderr])
    assert "does not allow 'SET'" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_client_gone_in_the_middle_of_a_large_reply_ends_the_session(gw, redis_server):
    redis_server.direct().set("e2e:huge", b"h" * (16 * 1024 * 1024))
    raw = Raw(gw.port("cache"))
    raw.send(f"AUTH app {gw.tokens['app']}\r\n".encode())
    assert raw.reply() == "OK"
    raw.send(b"GET e2e:huge\r\n")
    assert raw.sock.recv(4096).startswith(b"$16777216\r\n")
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client_record_of = "127.0.0.1:%d" % raw.sock.getsockname()[1]
    raw.close()  # unread data and linger 0: a reset
    found = []

    def written():
        found[:] = [r for r in gw.audit() if r.get("client") == client_record_of]
        return bool(found)
    assert eventually(written, timeout=10), "the session did not end"
    assert found[0]["decision"] == "allow"
    # The gateway goes on serving.
    r = client(gw, user="app")
    assert r.get("e2e:fin-in-segment") is not None or r.ping()
    disconnect(r)
