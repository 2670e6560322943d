"""The token toolkit through the real binary: mint, attenuate, inspect, verify, keys."""
import base64
import json
import os
import stat
import time

import pytest

import agent_creds_reference as ref
from conftest import CANARY_KEY_B64


def key_env(b64=CANARY_KEY_B64):
    return {"MACAROON_SIGNING_KEY": b64}


def mint(cr, *flags, env=None):
    proc = cr.run("mint", *flags, env=env if env is not None else key_env(), check=0)
    token = proc.stdout.strip()
    assert token.startswith("acm_")
    return token


def test_mint_verify_allowed_and_denied(cloakroom):
    token = mint(cloakroom, "--hosts", "api.stripe.com", "--methods", "GET",
                 "--paths", "/v1/customers/*", "--valid-for", "1h")
    ok = cloakroom.run("verify", token, "--host", "api.stripe.com", "--method", "get",
                       "--path", "/v1/customers/cus_1", env=key_env(), check=0)
    assert "allowed" in ok.stdout
    for host, method, path, why in [
        ("api.openai.com", "GET", "/v1/customers/cus_1", "host"),
        ("api.stripe.com", "POST", "/v1/customers/cus_1", "method"),
        ("api.stripe.com", "GET", "/v1/transfers/tr_1", "path"),
        ("api.stripe.com", "GET", "/v1/customers/cus_1/../../transfers/tr_1", "path"),
        ("api.stripe.com", "GET", "/v1/customers/a%2Fb", "path"),
    ]:
        denied = cloakroom.run("verify", token, "--host", host, "--method", method,
                               "--path", path, env=key_env(), check=1)
        assert denied.stderr.startswith("denied (caveats): "), denied.stderr
        assert why in denied.stderr.lower()
    cloakroom.assert_never_printed(CANARY_KEY_B64)


def test_token_expires_by_default_after_24h(cloakroom):
    before = int(time.time())
    token = mint(cloakroom)
    (name, (not_before, not_after)), = ref.caveats(token)
    assert name == "ValidityWindow"
    assert before <= not_before <= before + 5
    assert not_after - not_before == 24 * 3600
    args = ("verify", token, "--host", "h.example", "--method", "GET", "--path", "/")
    cloakroom.run(*args, "--at", str(not_after), env=key_env(), check=0)
    late = cloakroom.run(*args, "--at", str(not_after + 1), env=key_env(), check=1)
    assert "expired" in late.stderr.lower() or "valid" in late.stderr.lower()
    early = cloakroom.run(*args, "--at", "2020-01-01T00:00:00Z", env=key_env(), check=1)
    assert "denied (caveats)" in early.stderr


def test_max_validity_is_enforced(cloakroom):
    proc = cloakroom.run("mint", "--valid-for", "400d", env=key_env(), check=2)
    assert "maximum" in proc.stderr
    cloakroom.run("mint", "--valid-for", "0s", env=key_env(), check=2)
    cloakroom.run("mint", "--valid-for", "soon", env=key_env(), check=2)


def test_cloakroom_token_matches_the_agent_creds_wire_format(cloakroom):
    token = mint(cloakroom, "--hosts", "api.stripe.com,api.openai.com", "--methods", "GET,POST",
                 "--paths", "/v1/**", "--valid-for", "2h")
    key = base64.b64decode(CANARY_KEY_B64)
    assert ref.verify(token, key)
    assert not ref.verify(token, b"x" * 32)
    nonce, location, _, _ = ref.decode(token)
    assert nonce[0] == b"primary" and len(nonce[1]) == 16 and nonce[2] is False
    names = [name for name, _ in ref.caveats(token)]
    assert names == ["APIHost", "APIMethod", "APIPath", "ValidityWindow"]
    assert ref.caveats(token)[0][1] == [["api.stripe.com", "api.openai.com"]]


def test_agent_creds_tokens_verify_in_cloakroom(cloakroom, vectors):
    """Tokens minted by the reference implementation verify with the same key."""
    env = key_env(vectors["signing_key_b64"])
    checked = 0
    for vector in vectors["vectors"]:
        for check in vector["checks"]:
            # Documented deviations (docs/tokens.md): normalized paths, case-insensitive hosts.
            if check.get("raw_path_semantics") or "header" in check:
                continue
            if check["host"] != check["host"].lower():
                continue
            # verify routes --host host:port as the gateway routes a CONNECT (docs/tokens.md,
            # "Hosts and ports"): a bare entry allows :443 of a bare-keyed service. The exact
            # agent-creds comparison is checked by the unit vector test (token_vectors_test.cpp).
            if ":" in check["host"]:
                continue
            proc = cloakroom.run("verify", vector["token"], "--host", check["host"],
                                 "--method", check["method"], "--path", check["path"],
                                 "--at", str(check["time_unix"]), env=env)
            expected = 0 if check["expect"] == "ok" else 1
            assert proc.returncode == expected, (vector["name"], check, proc.stderr)
            if expected == 1:
                assert f"denied ({check['stage']})" in proc.stderr, (vector["name"], proc.stderr)
            checked += 1
    assert checked > 100


def test_attenuate_needs_no_key_and_only_narrows(cloakroom):
    token = mint(cloakroom, "--hosts", "api.stripe.com", "--valid-for", "1h")
    narrowed = cloakroom.run("attenuate", token, "--methods", "GET", "--paths", "/v1/**",
                             env={}, check=0).stdout.strip()
    assert narrowed != token and narrowed.startswith("acm_")
    args = ("--host", "api.stripe.com", "--path", "/v1/charges")
    cloakroom.run("verify", token, "--method", "POST", *args, env=key_env(), check=0)
    cloakroom.run("verify", narrowed, "--method", "GET", *args, env=key_env(), check=0)
    cloakroom.run("verify", narrowed, "--method", "POST", *args, env=key_env(), check=1)
    # Adding a wider caveat cannot widen: both host caveats must hold.
    wider = cloakroom.run("attenuate", narrowed, "--hosts", "api.stripe.com,evil.example",
                          check=0).stdout.strip()
    cloakroom.run("verify", wider, "--method", "GET", "--host", "evil.example", "--path", "/v1/x",
                  env=key_env(), check=1)
    # Nothing to add is a usage error.
    cloakroom.run("attenuate", token, check=2)


def test_inspect_without_key(cloakroom):
    token = mint(cloakroom, "--hosts", "api.stripe.com", "--paths", "/v1/customers/*")
    proc = cloakroom.run("inspect", token, env={}, check=0)
    info = json.loads(proc.stdout)
    text = json.dumps(info)
    assert "api.stripe.com" in text and "/v1/customers/*" in text
    assert "primary" in text
    cloakroom.run("inspect", "acm_not-a-token!", check=1)
    cloakroom.run("inspect", "nope", check=1)


DB_SERVICE = 2**32 + 0x434C0000 + 1
DB_LOGIN = DB_SERVICE + 1
DB_NAME = DB_SERVICE + 2
DB_COMMAND = DB_SERVICE + 3


def db_verify(cr, token, *flags, check):
    return cr.run("verify", token, *flags, env=key_env(), check=check)


def test_mint_database_caveats_wire_format_and_inspect(cloakroom):
    token = mint(cloakroom, "--hosts", "api.stripe.com", "--db", "app,cache",
                 "--db-login", "readonly", "--db-name", "shop", "--db-commands", "get,SCAN,@READ",
                 "--valid-for", "1h")
    # Signed like every other caveat, checked by the independent reader; type numbers as msgpack
    # uint64, bodies 1-element arrays of a str list, after the HTTP ones, before the window.
    assert ref.verify(token, base64.b64decode(CANARY_KEY_B64))
    cavs = ref.caveats(token)
    assert [name for name, _ in cavs] == ["APIHost", DB_SERVICE, DB_LOGIN, DB_NAME, DB_COMMAND,
                                          "ValidityWindow"]
    assert cavs[1][1] == [["app", "cache"]]
    assert cavs[2][1] == [["readonly"]]
    assert cavs[3][1] == [["shop"]]
    assert cavs[4][1] == [["GET", "SCAN", "@read"]]
    wire = base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4))
    assert b"\xcf\x00\x00\x00\x01\x43\x4c\x00\x01\x91\x92\xa3app\xa5cache" in wire

    info = json.loads(cloakroom.run("inspect", token, env={}, check=0).stdout)
    by_name = {c["name"]: c for c in info["caveats"]}
    assert by_name["DBService"]["type"] == DB_SERVICE
    assert by_name["DBService"]["type_hex"] == "0x1434c0001"
    assert by_name["DBService"]["body"] == {"services": ["app", "cache"]}
    assert by_name["DBLogin"]["body"] == {"logins": ["readonly"]}
    assert by_name["DBName"]["body"] == {"names": ["shop"]}
    assert by_name["DBCommand"]["body"] == {"commands": ["GET", "SCAN", "@read"]}
    shown = cloakroom.run("mint", "--db", "app", "--show-caveats", env=key_env(), check=0)
    assert '"DBService"' in shown.stderr


def test_verify_database_login(cloakroom):
    token = mint(cloakroom, "--db", "app", "--db-login", "readonly", "--db-name", "shop",
                 "--valid-for", "1h")
    ok = db_verify(cloakroom, token, "--db", "app", "--db-login", "readonly", "--db-name", "shop",
                   "--db-protocol", "postgres", check=0)
    assert ok.stdout.startswith("allowed: token ")
    assert "app" in ok.stdout and "readonly" in ok.stdout and "shop" in ok.stdout
    for flags, reason in [
        (("--db", "cache", "--db-login", "readonly", "--db-name", "shop"),
         'database "cache" not in allowed list ["app"]'),
        (("--db", "app", "--db-login", "admin", "--db-name", "shop"),
         'login "admin" not in allowed list ["readonly"]'),
        (("--db", "app", "--db-login", "readonly", "--db-name", "other"),
         'database name "other" not in allowed list ["shop"]'),
        (("--db", "app", "--db-login", "readonly"),
         'login names no database, but the token is limited to database names ["shop"]'),
    ]:
        denied = db_verify(cloakroom, token, *flags, "--db-protocol", "mysql", check=1)
        assert denied.stderr.startswith("denied (caveats): "), denied.stderr
        assert reason in denied.stderr, denied.stderr
    # The database token cannot make HTTP requests.
    http = cloakroom.run("verify", token, "--host", "api.stripe.com", "--method", "GET",
                         "--path", "/", env=key_env(), check=1)
    assert 'token is limited to databases ["app"]' in http.stderr
    # Expiry applies to logins too.
    late = db_verify(cloakroom, token, "--db", "app", "--db-login", "readonly", "--db-name",
                     "shop", "--db-protocol", "postgres", "--at", str(int(time.time()) + 7200),
                     check=1)
    assert "token only valid until" in late.stderr


def test_verify_database_login_cross_kind_and_commands(cloakroom):
    http_token = mint(cloakroom, "--hosts", "api.stripe.com", "--valid-for", "1h")
    denied = db_verify(cloakroom, http_token, "--db", "app", "--db-login", "ro",
                       "--db-protocol", "postgres", check=1)
    assert 'token is limited to HTTP hosts ["api.stripe.com"]' in denied.stderr
    # A token without caveat flags allows both kinds.
    open_token = mint(cloakroom)
    db_verify(cloakroom, open_token, "--db", "app", "--db-login", "ro", "--db-protocol", "redis",
              check=0)

    redis_token = mint(cloakroom, "--db", "cache", "--db-commands", "get,scan,@read")
    ok = db_verify(cloakroom, redis_token, "--db", "cache", "--db-login", "agent",
                   "--db-protocol", "redis", check=0)
    assert "commands limited to: GET,SCAN,@read" in ok.stdout
    pg = db_verify(cloakroom, redis_token, "--db", "cache", "--db-login", "agent",
                   "--db-name", "x", "--db-protocol", "postgres", check=1)
    assert "command limits only work for Redis" in pg.stderr


def test_verify_database_usage_errors(cloakroom):
    token = mint(cloakroom, "--db", "app")
    # Mixing an HTTP request with a database login, or half of either, is a usage error.
    mixed = cloakroom.run("verify", token, "--host", "h", "--method", "GET", "--path", "/",
                          "--db", "app", "--db-login", "ro", env=key_env(), check=2)
    assert "excludes" in mixed.stderr.lower()
    missing = db_verify(cloakroom, token, "--db", "app", "--db-protocol", "redis", check=2)
    assert "--db-login" in missing.stderr
    db_verify(cloakroom, token, "--db", "app", "--db-login", "ro", "--db-protocol", "oracle",
              check=2)
    # Without --db-protocol the protocol comes from the configured [[database]]; none here.
    unknown = db_verify(cloakroom, token, "--db", "app", "--db-login", "ro", check=2)
    assert "--db-protocol" in unknown.stderr
    # An empty name is refused rather than minted.
    empty = cloakroom.run("mint", "--db-name", "", env=key_env(), check=2)
    assert "--db-name has an empty entry" in empty.stderr
    # An empty value is given, and fails the access stage like an empty --host.
    access = db_verify(cloakroom, token, "--db", "", "--db-login", "ro", "--db-protocol", "redis",
                       check=1)
    assert "denied (access): invalid access: database service is required" in access.stderr


def test_verify_takes_the_protocol_from_the_configured_database(cloakroom, tmp_path):
    cfg = tmp_path / "cloakroom.toml"
    cfg.write_text('[[database]]\nname = "cache"\nprotocol = "redis"\nlisten = "127.0.0.1:0"\n'
                   'upstream = "127.0.0.1:6379"\nlogins = { agent = {} }\n'
                   '[[database]]\nname = "app"\nprotocol = "postgres"\nlisten = "127.0.0.1:0"\n'
                   'upstream = "127.0.0.1:5432"\nlogins = { agent = {} }\n')
    token = mint(cloakroom, "--db-commands", "GET")
    ok = cloakroom.run("--config", str(cfg), "verify", token, "--db", "cache", "--db-login",
                       "agent", env=key_env(), check=0)
    assert "(redis)" in ok.stdout and "commands limited to: GET" in ok.stdout
    pg = cloakroom.run("--config", str(cfg), "verify", token, "--db", "app", "--db-login",
                       "agent", "--db-name", "shop", env=key_env(), check=1)
    assert 'cannot be enforced on a "postgres" login' in pg.stderr
    # --db-protocol wins over the configuration.
    cloakroom.run("--config", str(cfg), "verify", token, "--db", "app", "--db-login", "agent",
                  "--db-protocol", "redis", env=key_env(), check=0)


def test_attenuate_adds_database_caveats(cloakroom):
    token = mint(cloakroom, "--db", "app,cache", "--valid-for", "1h")
    narrowed = cloakroom.run("attenuate", token, "--db", "app", "--db-login", "readonly",
                             "--db-commands", "GET", env={}, check=0).stdout.strip()
    assert narrowed != token and narrowed.startswith("acm_")
    names = [name for name, _ in ref.caveats(narrowed)]
    assert names == [DB_SERVICE, "ValidityWindow", DB_SERVICE, DB_LOGIN, DB_COMMAND]
    info = json.loads(cloakroom.run("inspect", narrowed, env={}, check=0).stdout)
    assert [c["name"] for c in info["caveats"]] == ["DBService", "ValidityWindow", "DBService",
                                                    "DBLogin", "DBCommand"]
    login = ("--db-login", "readonly", "--db-protocol", "redis")
    db_verify(cloakroom, token, "--db", "cache", *login, check=0)
    db_verify(cloakroom, narrowed, "--db", "app", *login, check=0)
    db_verify(cloakroom, narrowed, "--db", "cache", *login, check=1)
    db_verify(cloakroom, narrowed, "--db", "app", "--db-login", "admin", "--db-protocol", "redis",
              check=1)
    # The command limit makes the token useless for a PostgreSQL login.
    db_verify(cloakroom, narrowed, "--db", "app", "--db-login", "readonly", "--db-name", "x",
              "--db-protocol", "postgres", check=1)


def test_token_from_stdin(cloakroom):
    token = mint(cloakroom, "--hosts", "a.example")
    cloakroom.run("verify", "-", "--host", "a.example", "--method", "GET", "--path", "/",
                  stdin=token + "\n", env=key_env(), check=0)


@pytest.mark.parametrize("bad", [
    "", "acm_", "acm_!!!!", "acm_AAAA", "acm_" + "A" * 5000, "Bearer", "ghp_notours",
    "acm_lAA", "acm_kwA", "acm_" + base64.urlsafe_b64encode(b"\x94" + b"\xdd\xff\xff\xff\xff").decode().rstrip("="),
])
def test_malformed_tokens_get_a_clear_error(cloakroom, bad):
    proc = cloakroom.run("verify", bad, "--host", "h", "--method", "GET", "--path", "/",
                         env=key_env())
    assert proc.returncode in (1, 2), proc
    assert proc.stderr.strip(), "no error message"
    assert "denied" in proc.stderr or "cloakroom verify" in proc.stderr


def test_usage_errors_exit_2(cloakroom):
    assert cloakroom.run("verify", "acm_x", "--host", "h").returncode == 2
    assert cloakroom.run("mint", "--bogus").returncode == 2
    assert cloakroom.run("verify", "x", "--host", "h", "--method", "GET", "--path", "/",
                         "--at", "yesterday").returncode == 2
    assert cloakroom.run().returncode == 2
    assert cloakroom.run("--help").returncode == 0
    for sub in ["mint", "attenuate", "inspect", "verify", "keys", "secrets", "config", "serve"]:
        proc = cloakroom.run(sub, "--help")
        assert proc.returncode == 0 and "Usage" in proc.stdout, sub


def test_signing_key_generated_on_first_use(cloakroom):
    token = mint(cloakroom, "--hosts", "a.example", env={})
    key_file = cloakroom.home / "data" / "cloakroom" / "keys" / "primary.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    cloakroom.run("verify", token, "--host", "a.example", "--method", "GET", "--path", "/",
                  env={}, check=0)
    # Second mint reuses the key (no regeneration).
    before = key_file.read_bytes()
    mint(cloakroom, env={})
    assert key_file.read_bytes() == before
    assert key_file.read_text().strip() not in "".join(cloakroom.outputs)


def test_key_rotation(cloakroom):
    old = mint(cloakroom, "--hosts", "a.example", env={})
    cloakroom.run("keys", "generate", "k2026", check=0)
    new = mint(cloakroom, "--hosts", "a.example", "--key-id", "k2026", env={})
    assert ref.decode(new)[0][0] == b"k2026"
    args = ("--host", "a.example", "--method", "GET", "--path", "/")
    cloakroom.run("verify", old, *args, env={}, check=0)
    cloakroom.run("verify", new, *args, env={}, check=0)
    listing = cloakroom.run("keys", "list", env={}, check=0).stdout
    assert "primary" in listing and "k2026" in listing
    (cloakroom.home / "data" / "cloakroom" / "keys" / "primary.key").unlink()
    gone = cloakroom.run("verify", old, *args, env={}, check=1)
    assert "denied (signature)" in gone.stderr and "primary" in gone.stderr
    cloakroom.run("verify", new, *args, env={}, check=0)
    cloakroom.run("keys", "generate", "../escape", check=1)


def test_key_material_never_printed(cloakroom):
    token = mint(cloakroom, "--hosts", "a.example", "--show-caveats")
    cloakroom.run("inspect", token, env=key_env())
    cloakroom.run("verify", token, "--host", "b", "--method", "GET", "--path", "/", env=key_env())
    cloakroom.run("keys", "list", env=key_env())
    cloakroom.run("verify", token, "--host", "a.example", "--method", "GET", "--path", "/",
                  env=key_env(base64.b64encode(b"short").decode()))
    cloakroom.assert_never_printed(CANARY_KEY_B64, base64.b64decode(CANARY_KEY_B64).decode())


def test_serve_creates_the_signing_key_mint_uses(cloakroom, tmp_path):
    """On a fresh machine `serve` (make run) and `mint` must agree on one key without setup."""
    import subprocess
    cfg = tmp_path / "cloakroom.toml"
    cfg.write_text('[gateway]\nlisten = "127.0.0.1:0"\naudit_log = "%s"\n' % (tmp_path / "audit"))
    proc = subprocess.Popen([conftest_bin(), "--config", str(cfg), "serve"], env=cloakroom.env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "listening on" in line or not line:
                break
        key_file = cloakroom.home / "data" / "cloakroom" / "keys" / "primary.key"
        assert key_file.exists(), "serve did not create the signing key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        before = key_file.read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    token = mint(cloakroom, "--hosts", "a.example", env={})
    assert key_file.read_bytes() == before
    cloakroom.run("verify", token, "--host", "a.example", "--method", "GET", "--path", "/",
                  env={}, check=0)


def conftest_bin():
    from conftest import BIN
    return BIN


def test_mint_refuses_an_unknown_redis_category(cloakroom):
    """A misspelt category would allow nothing at all; mint says so instead of minting it."""
    bad = cloakroom.run("mint", "--db", "cache", "--db-commands", "GET,@raed", check=2)
    assert "@raed" in bad.stderr and "unknown Redis category" in bad.stderr
    ok = cloakroom.run("mint", "--db", "cache", "--db-commands", "GET,@READ,@all", check=0)
    assert ok.stdout.strip().startswith("acm_")
