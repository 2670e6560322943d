"""`cloakroom env`: an agent shell set up by it reaches APIs through Cloakroom with plain commands."""
import json
import os
import shlex
import shutil
import subprocess
import time

import pytest

import gwlib
import upstreams

VARS = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "NODE_USE_ENV_PROXY"]


# "example.com" is allowed (no credential) while api.example.com is a credential service: curl,
# urllib, requests, httpx and Go would all send api.example.com around the gateway if NO_PROXY
# held "example.com". The api service also names a base-URL variable for the reverse listener.
ENV_ALLOW = ["127.0.0.1", "example.com", "pypi.org", "[::2]"]
API_RULES = ('base_url_env = { EXAMPLE_API_BASE_URL = "/v1" }\n\n'
             '[[service.deny]]\nmethods = ["DELETE"]\n\n[[service.deny]]\npaths = ["/v1/transfers/**"]\n')


@pytest.fixture(scope="module")
def env_gw(tmp_path_factory, pki, nginx, pyup, leaks):
    """A gateway on fixed ports (`cloakroom env` must name them), shared by this module."""
    f = gwlib.GatewayFactory(tmp_path_factory.mktemp("envgw"), pki, nginx, pyup, leaks)
    for _ in range(3):
        port, reverse = upstreams.free_port(), upstreams.free_port()
        try:
            g = f(listen=f"127.0.0.1:{port}", reverse_listen=f"127.0.0.1:{reverse}",
                  allow_hosts=ENV_ALLOW, api_rules=API_RULES)
            g.reverse_port = reverse
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
        assert "::1" in entries and "[::1]" in entries, entries
        assert "pypi.org" in entries and "::2" in entries and "[::2]" in entries, entries
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


def agent_audit_count(env_gw, path):
    return sum(1 for r in env_gw.audit() if r.get("path") == path and r.get("host", "").startswith("api.example.com"))


@pytest.mark.parametrize("client", ["curl", "requests", "urllib"])
def test_allowed_parent_domain_does_not_bypass_the_gateway(env_gw, env_file, tmp_path, client):
    """[allow] example.com next to the service api.example.com: NO_PROXY must not cover the service
    host under the client's own matching rule, so the request still goes through Cloakroom (the
    name api.example.com does not even resolve: a direct request would fail)."""
    tok = env_gw.mint(methods="GET")
    path = f"/v1/env-noproxy-{client}"
    url = f"https://api.example.com{path}"
    if client == "curl":
        script = f"curl -sS -H 'Authorization: Bearer {tok}' {url}"
    elif client == "requests":
        script = ("/usr/bin/python3 -c \"import requests,sys; "
                  f"print(requests.get('{url}', headers={{'Authorization': 'Bearer ' + sys.argv[1]}}, timeout=20).text)\" {tok}")
    else:
        script = ("/usr/bin/python3 -c \"import urllib.request,sys; "
                  f"r=urllib.request.Request('{url}', headers={{'Authorization': 'Bearer ' + sys.argv[1]}}); "
                  "print(urllib.request.urlopen(r, timeout=20).read().decode())\" " + tok)
    p = shell(env_gw, env_file, script, tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["auth_check"] == "bearer-ok"
    deadline = time.time() + 5
    while agent_audit_count(env_gw, path) < 1 and time.time() < deadline:
        time.sleep(0.05)
    assert agent_audit_count(env_gw, path) == 1, "the request did not go through the gateway"


def test_github_style_token_scheme_is_replaced(env_gw, env_file, tmp_path):
    """gh, octokit and PyGithub send `Authorization: token <key>`: the Cloakroom token is found
    there, checked, removed, and the service's credential injected as the upstream expects."""
    tok = env_gw.mint(methods="GET")
    for scheme in ("token", "Token"):
        script = ("/usr/bin/python3 -c \"import requests,sys; "
                  "r=requests.get('https://api.example.com/v1/gh-style', headers={'Authorization': sys.argv[1] + ' ' + sys.argv[2], "
                  "'Accept': 'application/vnd.github+json'}, timeout=20); print(r.text)\" "
                  f"{scheme} {tok}")
        p = shell(env_gw, env_file, script, tmp_path)
        assert p.returncode == 0, p.stderr
        echo = json.loads(p.stdout)
        assert echo["auth_check"] == "bearer-ok", echo  # the real credential reached the upstream
        assert tok not in p.stdout and "acm_" not in echo["authorization"], echo


def test_env_base_url_for_sdks(env_gw, env_file):
    vals = exported(env_file)
    assert vals["EXAMPLE_API_BASE_URL"] == f"http://127.0.0.1:{env_gw.reverse_port}/api/v1", vals
    # No built-in variable for services on other hosts.
    assert "OPENAI_BASE_URL" not in vals and "ANTHROPIC_BASE_URL" not in vals


def test_node_builtin_fetch_through_base_url(env_gw, env_file, tmp_path):
    """Node before 22.21 ignores NODE_USE_ENV_PROXY: its built-in fetch (and the OpenAI/Anthropic
    SDKs on it) reach the service through the base URL `cloakroom env` exports instead."""
    if not shutil.which("node"):
        pytest.fail("node missing: run scripts/setup-e2e")
    tok = env_gw.mint(methods="GET")
    node_dir = gwlib.NODE_DIR
    script = (f"cd {shlex.quote(str(node_dir))} && node base_url.mjs EXAMPLE_API_BASE_URL /models "
              f"'{json.dumps({'authorization': 'Bearer ' + tok})}'")
    p = shell(env_gw, env_file, script, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    echo = json.loads(out["body"])
    assert out["status"] == 200 and echo["auth_check"] == "bearer-ok", out
    assert echo["request_uri"] == "/v1/models", echo
    assert tok not in p.stdout
