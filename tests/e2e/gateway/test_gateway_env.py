"""`cloakroom env`: an agent shell set up by it reaches APIs through Cloakroom with plain commands."""
import json
import os
import shlex
import shutil
import subprocess

import pytest

import gwlib
import upstreams

VARS = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "NODE_USE_ENV_PROXY"]


@pytest.fixture(scope="module")
def env_gw(tmp_path_factory, pki, nginx, pyup, leaks):
    """A gateway on a fixed port (`cloakroom env` must name it), shared by this module."""
    f = gwlib.GatewayFactory(tmp_path_factory.mktemp("envgw"), pki, nginx, pyup, leaks)
    for _ in range(3):
        port = upstreams.free_port()
        try:
            g = f(listen=f"127.0.0.1:{port}")
            break
        except AssertionError:  # the port was taken in between: try another
            continue
    yield g
    f.stop_all()


@pytest.fixture(scope="module")
def env_file(env_gw, tmp_path_factory):
    p = env_gw.cli("env")
    path = tmp_path_factory.mktemp("envsh") / "cloakroom.env"
    path.write_text(p.stdout)
    return path


def shell(env_gw, env_file, script, home):
    """Runs `script` in a clean bash that has sourced the `cloakroom env` output, as an agent would."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "NODE_NO_WARNINGS": "1"}
    p = subprocess.run(["bash", "-c", f"set -e; source {shlex.quote(str(env_file))}; {script}"],
                       env=base, capture_output=True, text=True, timeout=90)
    env_gw.record("agent shell", p.stdout + p.stderr)
    return p


def exported(env_file):
    vals = {}
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert line.startswith("export "), line
        name, _, value = line[len("export "):].partition("=")
        vals[name] = shlex.split(value)[0] if value else ""
    return vals


def test_env_exports_everything(env_gw, env_file):
    vals = exported(env_file)
    missing = [v for v in VARS if v not in vals]
    assert not missing, f"missing exports: {missing}\n{env_file.read_text()}"
    for v in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        assert vals[v].rstrip("/") == env_gw.proxy_url, (v, vals[v])
    assert vals["NODE_USE_ENV_PROXY"] == "1"
    for v in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO"):
        assert os.path.isfile(vals[v]), (v, vals[v])
    bundle = open(vals["SSL_CERT_FILE"]).read()
    assert env_gw.ca_path.read_text().strip() in bundle, "the bundle lacks Cloakroom's CA"
    assert bundle.count("BEGIN CERTIFICATE") > 10, "the bundle lacks the system roots"


def test_no_proxy_has_loopback_and_no_credential_host(env_gw, env_file):
    vals = exported(env_file)
    for v in ("NO_PROXY", "no_proxy"):
        entries = [e.strip() for e in vals[v].split(",") if e.strip()]
        assert "localhost" in entries and "127.0.0.1" in entries, entries
        assert "::1" in entries or "[::1]" in entries, entries
        for host in ("api.example.com", "keys.example.com", "git.example.com", "query.example.com",
                     "plain.example.com", "stream.example.com", "example.com", ".example.com", "*"):
            assert host not in entries, (v, host, entries)
        for e in entries:
            assert not e.endswith("example.com"), (v, e)


def test_env_shell_plain_curl(env_gw, env_file, tmp_path):
    tok = env_gw.mint(methods="GET")
    p = shell(env_gw, env_file, f"curl -sS -H 'Authorization: Bearer {tok}' https://api.example.com/v1/env-curl",
              tmp_path)
    assert p.returncode == 0, p.stderr
    echo = json.loads(p.stdout)
    assert echo["auth_check"] == "bearer-ok" and echo["request_uri"] == "/v1/env-curl"


def test_env_shell_python_requests(env_gw, env_file, tmp_path):
    tok = env_gw.mint(methods="GET")
    script = ("/usr/bin/python3 -c \"import requests,sys; "
              "r=requests.get('https://api.example.com/v1/env-py', headers={'Authorization': 'Bearer ' + sys.argv[1]}, timeout=20); "
              f"print(r.text)\" {tok}")
    p = shell(env_gw, env_file, script, tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["auth_check"] == "bearer-ok"


def test_env_shell_git_clone(env_gw, env_file, tmp_path):
    tok = env_gw.mint(hosts="git.example.com", methods="GET,POST", paths="/repo.git/**")
    p = shell(env_gw, env_file, f"git clone -q https://agent:{tok}@git.example.com/repo.git {tmp_path}/c && cat {tmp_path}/c/README.md",
              tmp_path)
    assert p.returncode == 0, p.stderr
    assert "hello from the e2e git upstream" in p.stdout


def test_env_shell_node_fetch(env_gw, env_file, tmp_path):
    if not shutil.which("node"):
        pytest.fail("node missing: run scripts/setup-e2e")
    tok = env_gw.mint(methods="GET")
    node_dir = gwlib.NODE_DIR
    script = (f"cd {shlex.quote(str(node_dir))} && node fetch.mjs https://api.example.com/v1/env-node GET "
              f"'{json.dumps({'authorization': 'Bearer ' + tok})}'")
    p = shell(env_gw, env_file, script, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == 200 and json.loads(out["body"])["auth_check"] == "bearer-ok", out
