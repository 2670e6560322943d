"""Real clients through the gateway with only a token: curl, python3 requests, node fetch, git clone/push.

Each one succeeds, the upstream saw the real credential (the echo's *_check fields, computed by nginx
against the real value) and never the token, and the client never sees the secret (echoes are redacted).
"""
import json
import shutil
import subprocess

import pytest
import requests

import gwlib

S = gwlib.SECRETS


def assert_injected_bearer(echo, token):
    assert echo["auth_check"] == "bearer-ok", echo
    assert gwlib.is_redacted_bearer(echo["authorization"]), echo  # redacted echo
    assert echo["proxy_authorization"] == "", echo
    assert token not in json.dumps(echo)


@pytest.mark.parametrize("version,status_line", [("--http1.1", "HTTP/1.1 200"), ("--http2", "HTTP/2 200")])
def test_curl_bearer(gw, version, status_line):
    """curl picks HTTP/2 by default when the gateway offers it (ALPN h2); both work alike."""
    tok = gw.mint(methods="GET", paths="/v1/**")
    p = gw.curl(version, "-H", f"Authorization: Bearer {tok}",
                "https://api.example.com/v1/customers/c1?x=1", "-D", "-", "--suppress-connect-headers")
    head, _, body = p.stdout.decode().partition("\r\n\r\n")
    assert head.startswith(status_line), head
    echo = json.loads(body)
    assert_injected_bearer(echo, tok)
    assert echo["request_uri"] == "/v1/customers/c1?x=1"
    assert echo["host"] == "api.example.com"
    assert gw.ca_path.exists()


def test_curl_token_in_proxy_authorization(gw):
    tok = gw.mint(methods="GET")
    p = gw.curl("--proxy-user", f"agent:{tok}", "https://api.example.com/v1/pa")
    assert_injected_bearer(json.loads(p.stdout), tok)
    p = gw.curl("--proxy-header", f"Proxy-Authorization: Bearer {tok}", "https://api.example.com/v1/pb")
    assert_injected_bearer(json.loads(p.stdout), tok)


def test_python_requests(gw):
    tok = gw.mint(hosts="api.example.com,keys.example.com", methods="GET,POST")
    proxies = {"https": gw.proxy_url}
    with requests.Session() as s:
        s.trust_env = False
        r = s.get("https://api.example.com/v1/requests", headers={"Authorization": f"Bearer {tok}"},
                  proxies=proxies, verify=str(gw.ca_path), timeout=20)
        gw.record("requests", r.text + json.dumps(dict(r.headers)))
        assert r.status_code == 200
        assert_injected_bearer(r.json(), tok)
        assert gwlib.is_redacted_bearer(r.headers["X-Echo-Authorization"])
        # header credential, same session (connection reuse in the client)
        r = s.post("https://keys.example.com/v1/messages", headers={"x-api-key": tok},
                   data=b"{}", proxies=proxies, verify=str(gw.ca_path), timeout=20)
        gw.record("requests", r.text + json.dumps(dict(r.headers)))
        assert r.status_code == 200
        echo = r.json()
        assert echo["xkey_check"] == "ok" and echo["x_api_key"] == gwlib.stars(S["x_api_key"])
        assert tok not in r.text


def test_node_fetch(gw, node_dir):
    if not shutil.which("node") or not (node_dir / "node_modules" / "undici").exists():
        pytest.fail("node or tests/e2e/node/node_modules missing: run scripts/setup-e2e")
    tok = gw.mint(methods="GET")
    env = gw.client_env(NODE_EXTRA_CA_CERTS=str(gw.ca_path), NODE_USE_ENV_PROXY="1", NODE_NO_WARNINGS="1")
    p = subprocess.run(["node", str(node_dir / "fetch.mjs"), "https://api.example.com/v1/node", "GET",
                        json.dumps({"authorization": f"Bearer {tok}"})],
                       env=env, capture_output=True, text=True, timeout=60, cwd=node_dir)
    gw.record("node", p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == 200, out
    assert_injected_bearer(json.loads(out["body"]), tok)


def _git_env(gw, home):
    return gw.client_env(
        HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
        GIT_SSL_CAINFO=str(gw.ca_path),
        GIT_AUTHOR_NAME="agent", GIT_AUTHOR_EMAIL="agent@example.com",
        GIT_COMMITTER_NAME="agent", GIT_COMMITTER_EMAIL="agent@example.com",
    )


def test_git_clone_and_push_with_token(gw, nginx, tmp_path):
    tok = gw.mint(hosts="git.example.com", methods="GET,POST", paths="/repo.git/**")
    env = _git_env(gw, tmp_path)
    url = f"https://agent:{tok}@git.example.com/repo.git"

    def git(*args, cwd=None):
        p = subprocess.run(["git", "-c", f"http.proxy={gw.proxy_url}", *args], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=90)
        gw.record("git " + args[0], p.stdout + p.stderr)
        assert p.returncode == 0, f"git {args[0]} failed:\n{p.stderr}\n--- gateway:\n{gw.stderr_text()[-3000:]}"
        return p

    work = tmp_path / "clone"
    git("clone", "-q", url, str(work))
    assert (work / "README.md").read_text().startswith("hello from the e2e git upstream")
    (work / "agent.txt").write_text("written by an agent holding only a token\n")
    git("add", "agent.txt", cwd=work)
    git("commit", "-q", "-m", "agent commit through cloakroom", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/agent-branch", cwd=work)
    log = subprocess.run(["git", "--git-dir", str(nginx.bare), "log", "--format=%s", "agent-branch"],
                         capture_output=True, text=True).stdout
    assert "agent commit through cloakroom" in log
    # nginx authenticated the real user: its access log shows the git requests answered 200, not 401 only
    assert '"POST /repo.git/git-receive-pack" 200' in nginx.access_log()


def test_git_read_only_token_clones_but_cannot_push(gw, nginx, tmp_path):
    """A token for the fetch endpoints only: clone works, push (POST git-receive-pack) gets 403."""
    tok = gw.mint(hosts="git.example.com", methods="GET,POST",
                  paths="/repo.git/info/refs,/repo.git/git-upload-pack")
    env = _git_env(gw, tmp_path)
    url = f"https://agent:{tok}@git.example.com/repo.git"
    work = tmp_path / "ro"

    def git(*args, cwd=None):
        p = subprocess.run(["git", "-c", f"http.proxy={gw.proxy_url}", *args], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=90)
        gw.record("git " + args[0], p.stdout + p.stderr)
        return p

    p = git("clone", "-q", url, str(work))
    assert p.returncode == 0, p.stderr
    (work / "ro.txt").write_text("should never land\n")
    git("add", "ro.txt", cwd=work)
    git("commit", "-q", "-m", "read-only token push", cwd=work)
    p = git("push", "-q", "origin", "HEAD:refs/heads/ro-branch", cwd=work)
    assert p.returncode != 0
    assert "403" in p.stderr, p.stderr
    branches = subprocess.run(["git", "--git-dir", str(nginx.bare), "branch", "--list", "ro-branch"],
                              capture_output=True, text=True).stdout
    assert branches.strip() == ""
