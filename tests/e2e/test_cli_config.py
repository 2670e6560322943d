"""Configuration and secrets through the real binary."""
import json
import os
import textwrap

from conftest import CANARY_SECRET

SEED_AGENT_CREDS = textwrap.dedent("""\
    [sandbox]
    name = "myproject"

    [upstream."api.anthropic.com"]
    [upstream."claude.ai"]
    [upstream."platform.claude.com"]

    [[browser_target]]
    url = "https://claude.ai/oauth/authorize*"

    [[browser_target]]
    url = "http://localhost:*"
""")

SEED_VAULT = textwrap.dedent("""\
    [credentials."api.stripe.com"]
    type = "bearer"
    token = { provider = "env", name = "STRIPE_API_KEY" }

    [credentials."pocketbase.example.com"]
    type = "basic"
    username = { provider = "env", name = "PB_USERNAME" }
    password = { provider = "env", name = "PB_PASSWORD" }
""")


def write(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_embedded_default_config(cloakroom):
    proc = cloakroom.run("config", "check", check=0)
    assert "<embedded default>" in proc.stdout
    assert "127.0.0.1:3128" in proc.stdout
    default = cloakroom.run("config", "default", check=0).stdout
    assert "[gateway]" in default


def test_agent_creds_files_are_accepted_as_they_are(cloakroom, tmp_path):
    a = write(tmp_path / "agent-creds.toml", SEED_AGENT_CREDS)
    v = write(tmp_path / "vault.toml", SEED_VAULT)
    proc = cloakroom.run("--config", str(a), "--config", str(v), "config", "check", check=0)
    for host in ["api.anthropic.com", "claude.ai", "api.stripe.com", "pocketbase.example.com"]:
        assert host in proc.stdout
    secrets = cloakroom.run("--config", str(v), "secrets", "check", "--json",
                            env={"STRIPE_API_KEY": CANARY_SECRET, "PB_USERNAME": "u"})
    report = {r["secret"]: r["status"] for r in json.loads(secrets.stdout)}
    assert report == {"env:STRIPE_API_KEY": "ok", "env:PB_USERNAME": "ok",
                      "env:PB_PASSWORD": "missing"}
    assert secrets.returncode == 1
    cloakroom.assert_never_printed(CANARY_SECRET)


def test_config_errors_name_file_and_line(cloakroom, tmp_path):
    bad = write(tmp_path / "cloakroom.toml", textwrap.dedent("""\
        [gateway]
        listen = "127.0.0.1:3128"

        [[service]]
        name = "stripe"
        hosts = ["api.stripe.com"]
        credential = { type = "bearr", secret = "env:STRIPE" }
    """))
    proc = cloakroom.run("--config", str(bad), "config", "check", check=1)
    assert "cloakroom.toml:7" in proc.stderr and "bearr" in proc.stderr
    syntax = write(tmp_path / "broken.toml", "[gateway\nlisten = 1\n")
    proc = cloakroom.run("--config", str(syntax), "config", "check", check=1)
    assert "broken.toml:1" in proc.stderr
    typo = write(tmp_path / "typo.toml", "[gateway]\nlistn = \"127.0.0.1:1\"\n")
    proc = cloakroom.run("--config", str(typo), "config", "check", check=1)
    assert "typo.toml:2" in proc.stderr and "listn" in proc.stderr
    # A broken config never falls back silently: every command refuses it.
    cloakroom.run("--config", str(bad), "mint", env={"MACAROON_SIGNING_KEY": "x"}, check=2)


def test_secrets_check_reports_each_state_without_values(cloakroom, tmp_path):
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir(mode=0o700)
    os.chmod(secret_dir, 0o700)
    write(secret_dir / "good", CANARY_SECRET + "\n", 0o600)
    write(secret_dir / "loose", CANARY_SECRET, 0o644)
    write(secret_dir / "twolines", CANARY_SECRET + "\nsecond\n", 0o600)
    os.symlink(secret_dir / "good", secret_dir / "link")
    cfg = write(tmp_path / "cloakroom.toml", textwrap.dedent(f"""\
        [secrets]
        dir = "{secret_dir}"

        [[service]]
        name = "a"
        hosts = ["a.example"]
        credential = {{ type = "bearer", secret = "file:good" }}
        [[service]]
        name = "b"
        hosts = ["b.example"]
        credential = {{ type = "header", header = "x-api-key", secret = "file:loose" }}
        [[service]]
        name = "c"
        hosts = ["c.example"]
        credential = {{ type = "bearer", secret = "file:absent" }}
        [[service]]
        name = "d"
        hosts = ["d.example"]
        credential = {{ type = "bearer", secret = "file:twolines" }}
        [[service]]
        name = "e"
        hosts = ["e.example"]
        credential = {{ type = "bearer", secret = "file:link" }}
        [[service]]
        name = "f"
        hosts = ["f.example"]
        credential = {{ type = "query", param = "key", secret = "env:CANARY_ENV" }}
    """))
    proc = cloakroom.run("--config", str(cfg), "secrets", "check", "--json",
                         env={"CANARY_ENV": CANARY_SECRET})
    assert proc.returncode == 1
    report = {r["secret"]: r["status"] for r in json.loads(proc.stdout)}
    assert report["file:good"] == "ok"
    assert report["file:loose"] == "unsafe_permissions"
    assert report["file:absent"] == "missing"
    assert report["file:twolines"] == "invalid"
    assert report["file:link"] == "error"
    assert report["env:CANARY_ENV"] == "ok"
    text = cloakroom.run("--config", str(cfg), "secrets", "check",
                         env={"CANARY_ENV": CANARY_SECRET}).stdout
    assert "file:good" in text and "missing" in text and "unsafe permissions" in text
    cloakroom.assert_never_printed(CANARY_SECRET)
