"""What real users trip on around `serve`, `env`, `mint`, keys and secrets (the hardening issue):
a second gateway on a taken port, global flags after the subcommand, loose secret permissions,
two signing keys under one id, tokens scoped to nothing, where audit records and logs go, and a
CA bundle an agent running as another user can read."""
import base64
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BIN, CANARY_KEY_B64, CANARY_SECRET


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """A `cloakroom serve` process; stderr collected line by line by a thread."""

    def __init__(self, cloakroom, args, env=None):
        full_env = dict(cloakroom.env)
        full_env.update(env or {})
        self.proc = subprocess.Popen([BIN, *args], env=full_env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.out = []
        self.pumps = [threading.Thread(target=self._pump, args=(self.proc.stderr, self.lines), daemon=True),
                      threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True)]
        for t in self.pumps:
            t.start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink.append(line)

    def wait_for(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = list(self.lines)
            for line in lines[seen:]:
                if re.search(pattern, line):
                    return line
            seen = len(lines)
            if self.proc.poll() is not None and not any(t.is_alive() for t in self.pumps[:1]):
                return None
            time.sleep(0.02)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        for t in self.pumps:
            t.join(timeout=5)
        return "".join(self.out), "".join(self.lines)


def connect_status(port, authority="unconfigured.example:443"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        return s.recv(4096).split(b"\r\n", 1)[0].decode()


def write_config(path, text):
    path.write_text(text)
    return path


def gateway_config(tmp_path, proxy, reverse, db, extra=""):
    return write_config(tmp_path / f"gw-{proxy}-{reverse}-{db}.toml", f"""
[gateway]
listen = "127.0.0.1:{proxy}"
reverse_listen = "127.0.0.1:{reverse}"
data_dir = "{tmp_path / 'data'}"
audit_log = "{tmp_path / 'audit.jsonl'}"

[[database]]
name = "app"
protocol = "postgres"
listen = "127.0.0.1:{db}"
upstream = "127.0.0.1:1"
[database.logins]
ro = {{ user = "app_ro" }}
{extra}""")


# ---- 1. a second gateway on the same addresses fails at startup ------------------------------

def test_second_serve_on_a_taken_address_fails_and_the_first_keeps_serving(cloakroom, tmp_path):
    proxy, reverse, db = free_port(), free_port(), free_port()
    first = Serve(cloakroom, ["serve", "--config", str(gateway_config(tmp_path, proxy, reverse, db))])
    try:
        assert first.wait_for(r"listening on 127\.0\.0\.1:%d \(database app" % db), first.lines
        # Each listener on its own: the forward proxy, the reverse listener, the database.
        for clash, (p, r, d) in {
            f"127.0.0.1:{proxy}": (proxy, 0, 0),
            f"127.0.0.1:{reverse}": (0, reverse, 0),
            f"127.0.0.1:{db}": (0, 0, db),
        }.items():
            second = cloakroom.run("serve", "--config", str(gateway_config(tmp_path, p, r, d)))
            assert second.returncode != 0, second.stderr
            assert f"cannot listen on {clash}: address already in use" in second.stderr, second.stderr
        # The first one still owns every connection (none goes to a stale second process).
        for _ in range(20):
            assert connect_status(proxy).startswith("HTTP/1.1 403"), "first gateway stopped serving"
        assert first.proc.poll() is None
    finally:
        first.stop()


def test_one_gateway_spreads_over_threads_on_one_socket(cloakroom, tmp_path):
    """The workers of one process still share the address (one listening socket)."""
    proxy = free_port()
    cfg = gateway_config(tmp_path, proxy, 0, 0)
    serve = Serve(cloakroom, ["serve", "--threads", "4", "--config", str(cfg)])
    try:
        assert serve.wait_for(r"listening on 127\.0\.0\.1:%d \(forward" % proxy), serve.lines
        for _ in range(40):
            assert connect_status(proxy).startswith("HTTP/1.1 403")
    finally:
        serve.stop()


# ---- 3. global flags after the subcommand ------------------------------------------------------

def test_global_flags_are_accepted_after_the_subcommand(cloakroom, tmp_path):
    cfg = write_config(tmp_path / "after.toml", f"""
[gateway]
listen = "127.0.0.1:0"
data_dir = "{tmp_path / 'after-data'}"
audit_log = "-"
[[service]]
name = "after"
hosts = ["after.example"]
""")
    for args in (["config", "check", "--config", str(cfg)], ["config", "check", "-c", str(cfg)]):
        p = cloakroom.run(*args, check=0)
        assert "after" in p.stdout + p.stderr
    tok = cloakroom.run("mint", "--hosts", "after.example", "--config", str(cfg), check=0).stdout.strip()
    assert tok.startswith("acm_")
    assert (tmp_path / "after-data" / "keys" / "primary.key").exists(), "mint did not read --config"
    listing = cloakroom.run("keys", "list", "--config", str(cfg), check=0).stdout
    assert str(tmp_path / "after-data" / "keys") in listing and "primary" in listing
    report = json.loads(cloakroom.run("secrets", "check", "--config", str(cfg), "--json", check=0).stdout)
    assert report == []
    env = cloakroom.run("env", "--config", str(cfg), check=0).stdout
    assert str(tmp_path / "after-data") in env
    serve = Serve(cloakroom, ["serve", "--config", str(cfg)])
    try:
        assert serve.wait_for(r"listening on .*\(forward proxy\)"), serve.lines
    finally:
        serve.stop()
    # Unknown options are still refused, wherever they are.
    assert cloakroom.run("serve", "--confg", str(cfg)).returncode == 2


# ---- 6. one rule for loose secret permissions: used, and the same warning on both paths --------

def test_loose_secret_warns_the_same_in_check_and_serve(cloakroom, tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    loose = secrets / "loose"
    loose.write_text(CANARY_SECRET)
    os.chmod(loose, 0o644)
    proxy = free_port()
    cfg = write_config(tmp_path / "loose.toml", f"""
[gateway]
listen = "127.0.0.1:{proxy}"
data_dir = "{tmp_path / 'data'}"
audit_log = "{tmp_path / 'audit.jsonl'}"
[secrets]
dir = "{secrets}"
[[service]]
name = "loose"
hosts = ["loose.example"]
credential = {{ type = "bearer", secret = "file:loose" }}
connect_to = "127.0.0.1:1"
allow_private = true
""")
    expected = (f"secret file {loose} has mode 0644; expected 0600 (no group or other access). "
                f"Used anyway; tighten it: chmod 0600 {loose}")
    check = cloakroom.run("--config", str(cfg), "secrets", "check")
    assert check.returncode == 0, check.stdout + check.stderr  # usable, like serve uses it
    assert "unsafe permissions" in check.stdout and expected in check.stdout, check.stdout
    report = json.loads(cloakroom.run("--config", str(cfg), "secrets", "check", "--json", check=0).stdout)
    assert report[0]["status"] == "unsafe_permissions" and expected in report[0]["detail"]

    serve = Serve(cloakroom, ["serve", "--config", str(cfg)])
    try:
        assert serve.wait_for(r"listening on .*\(forward proxy\)"), serve.lines
        tok = cloakroom.run("--config", str(cfg), "mint", "--hosts", "loose.example", check=0).stdout.strip()
        ca = tmp_path / "data" / "ca" / "ca.pem"
        for _ in range(3):  # the secret is resolved before the (closed) upstream is dialed
            subprocess.run(["curl", "-sS", "-o", "/dev/null", "-x", f"http://127.0.0.1:{proxy}",
                            "--cacert", str(ca), "-H", f"Authorization: Bearer {tok}",
                            "https://loose.example/v1/x"], capture_output=True, timeout=30)
        line = serve.wait_for(r"warning: file:loose", timeout=5)
    finally:
        _, err = serve.stop()
    assert line is not None, err
    assert f"cloakroom: warning: file:loose: {expected}" in err, err
    assert err.count(expected) == 1, "warned more than once for the same file and mode"
    assert CANARY_SECRET not in err and CANARY_SECRET not in check.stdout


# ---- 7. MACAROON_SIGNING_KEY and a primary.key file ---------------------------------------------

def test_signing_key_in_env_and_file(cloakroom, tmp_path):
    cfg = write_config(tmp_path / "keys.toml", f"""
[gateway]
listen = "127.0.0.1:0"
data_dir = "{tmp_path / 'data'}"
audit_log = "{tmp_path / 'audit.jsonl'}"
""")
    key_file = tmp_path / "data" / "keys" / "primary.key"
    key_file.parent.mkdir(parents=True, mode=0o700)
    key_file.write_text(CANARY_KEY_B64 + "\n")
    os.chmod(key_file, 0o600)
    same = {"MACAROON_SIGNING_KEY": CANARY_KEY_B64}
    # The same key in both places is one key.
    listing = cloakroom.run("--config", str(cfg), "keys", "list", env=same, check=0).stdout
    assert listing.count("primary") == 1, listing
    tok = cloakroom.run("--config", str(cfg), "mint", "--hosts", "a.example", env=same, check=0).stdout.strip()
    cloakroom.run("--config", str(cfg), "verify", tok, "--host", "a.example", "--method", "GET",
                  "--path", "/", env=same, check=0)
    # Different keys: every command says which two sources clash and how to keep one.
    other = {"MACAROON_SIGNING_KEY": base64.b64encode(b"x" * 32).decode()}
    for args in (["keys", "list"], ["mint", "--hosts", "a.example"], ["serve"]):
        p = cloakroom.run("--config", str(cfg), *args, env=other)
        assert p.returncode == 1, (args, p.stderr)
        for part in ("duplicate key id 'primary'", "MACAROON_SIGNING_KEY", str(key_file),
                     "unset MACAROON_SIGNING_KEY"):
            assert part in p.stderr, (args, p.stderr)
    cloakroom.assert_never_printed(CANARY_KEY_B64, other["MACAROON_SIGNING_KEY"])


# ---- 8. tokens scoped to nothing configured -----------------------------------------------------

def test_mint_warns_about_scopes_that_name_nothing(cloakroom, tmp_path):
    cfg = write_config(tmp_path / "mint.toml", f"""
[gateway]
listen = "127.0.0.1:0"
data_dir = "{tmp_path / 'data'}"
[allow]
hosts = ["pypi.org"]
[[service]]
name = "stripe"
hosts = ["api.stripe.com"]
[[database]]
name = "app"
protocol = "postgres"
listen = "127.0.0.1:6432"
upstream = "127.0.0.1:5432"
[database.logins]
readonly = {{ user = "app_ro" }}
""")
    cases = {
        ("--hosts", "api.strpe.com"): ["--hosts api.strpe.com: no configured service", "did you mean api.stripe.com"],
        ("--hosts", "API.Stripe.com,nowhere.example"): ["--hosts nowhere.example"],
        ("--hosts", "pypi.org"): ["--hosts pypi.org: an [allow] host"],
        ("--db", "ap"): ["--db ap: no [[database]]", "did you mean app"],
        ("--db", "app", "--db-login", "readonly,admin"): ["--db-login admin"],
    }
    for args, parts in cases.items():
        p = cloakroom.run("--config", str(cfg), "mint", *args, check=0)
        assert p.stdout.strip().startswith("acm_"), "the token must still be minted"
        assert p.stderr.count("warning:") == len(parts) - sum("did you mean" in x for x in parts), p.stderr
        for part in parts:
            assert part in p.stderr, (args, p.stderr)
    for args in (("--hosts", "api.stripe.com"), ("--hosts", "api.stripe.com:443"),
                 ("--db", "app", "--db-login", "readonly")):
        p = cloakroom.run("--config", str(cfg), "mint", *args, check=0)
        assert "warning" not in p.stderr, (args, p.stderr)
    tok = cloakroom.run("--config", str(cfg), "mint", check=0).stdout.strip()
    p = cloakroom.run("--config", str(cfg), "attenuate", tok, "--hosts", "api.strpe.com", check=0)
    assert "did you mean api.stripe.com" in p.stderr


# ---- 9. audit records in a private file by default, logs in one style on stderr ----------------

def test_audit_defaults_to_a_private_file_and_stdout_stays_quiet(cloakroom, tmp_path):
    proxy = free_port()
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "audit.toml", f"""
[gateway]
listen = "127.0.0.1:{proxy}"
data_dir = "{data}"
""")
    serve = Serve(cloakroom, ["serve", "--config", str(cfg)])
    try:
        assert serve.wait_for(r"listening on .*\(forward proxy\)"), serve.lines
        assert connect_status(proxy).startswith("HTTP/1.1 403")
        audit = data / "audit.log"
        deadline = time.monotonic() + 5
        while not (audit.exists() and audit.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        # A reload that fails logs through the gateway's logger: same style as the other lines.
        cfg.write_text(cfg.read_text() + "\n[broken\n")
        serve.proc.send_signal(1)
        serve.wait_for(r"reload", timeout=5)
    finally:
        out, err = serve.stop()
    assert out == "", "audit records went to standard output"
    record = json.loads(audit.read_text().splitlines()[0])
    assert record["host"].startswith("unconfigured.example") and record["status"] == 403
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    lines = [line for line in err.splitlines() if line.strip()]
    assert any("reload" in line for line in lines), err
    assert all(line.startswith("cloakroom") for line in lines), err
    assert not any(re.match(r"^\[\d{4}-", line) for line in lines), err
    # "-" still means standard output.
    cfg.write_text(f'[gateway]\nlisten = "127.0.0.1:{proxy}"\ndata_dir = "{data}"\naudit_log = "-"\n')
    serve = Serve(cloakroom, ["serve", "--config", str(cfg)])
    try:
        assert serve.wait_for(r"listening on .*\(forward proxy\)"), serve.lines
        connect_status(proxy)
        time.sleep(0.3)
    finally:
        out, _ = serve.stop()
    assert '"decision"' in out


# ---- 10. the CA bundle is readable by an agent running as another user ---------------------------

@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_env_files_are_readable_by_another_user(cloakroom):
    base = tempfile.mkdtemp(prefix="cloakroom-public-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        data = os.path.join(base, "data")
        cfg = os.path.join(base, "cloakroom.toml")
        with open(cfg, "w") as f:
            f.write(f'[gateway]\nlisten = "127.0.0.1:3128"\ndata_dir = "{data}"\n')
        out = cloakroom.run("--config", cfg, "env", check=0).stdout
        values = dict(re.findall(r"^export (\w+)='([^']*)'$", out, re.M))
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
                     "NODE_EXTRA_CA_CERTS"):
            path = values[name]
            assert path.startswith(os.path.join(data, "public") + "/"), (name, path)
            p = subprocess.run([*nobody, "cat", path], capture_output=True, text=True)
            assert p.returncode == 0 and "BEGIN CERTIFICATE" in p.stdout, (name, p.stderr)
            assert "PRIVATE KEY" not in p.stdout
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        assert stat.S_IMODE(os.stat(os.path.join(data, "public")).st_mode) == 0o755
        ca_cert = open(os.path.join(data, "ca", "ca.pem")).read().strip()
        assert ca_cert in open(values["SSL_CERT_FILE"]).read()
        assert open(values["NODE_EXTRA_CA_CERTS"]).read().strip() == ca_cert
        # Nothing private became reachable: the CA key, the keys, the listing of the data dir.
        for args in (["cat", os.path.join(data, "ca", "ca.key")], ["ls", data],
                     ["ls", os.path.join(data, "ca")]):
            p = subprocess.run([*nobody, *args], capture_output=True, text=True)
            assert p.returncode != 0, (args, p.stdout)
        assert stat.S_IMODE(os.stat(os.path.join(data, "ca")).st_mode) == 0o700
        # A second run (bundle refreshed) keeps the modes.
        cloakroom.run("--config", cfg, "env", check=0)
        assert stat.S_IMODE(os.stat(values["SSL_CERT_FILE"]).st_mode) == 0o644
    finally:
        shutil.rmtree(base, ignore_errors=True)
