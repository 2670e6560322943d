"""The positive path for git and node inside `cloakroom run`, in netns and landlock mode, through
a real `cloakroom serve` (tests/e2e/gateway fixtures: nginx with git-http-backend, the echo API):

- git clones and pushes over https with no credential in the URL, in a file or in a variable of
  its own: `cloakroom git-credential`, wired through GIT_CONFIG_* variables, answers with the
  session token, and the upstream sees the real credential (nginx's basic auth accepts the push);
- node's fetch (the pinned undici in tests/e2e/node, through the proxy variables) reaches a
  service with the session token in its SDK variable, and the upstream sees the real key.

Files the command runs are copied into the project directory: the sandbox has its own /tmp,
and a CI checkout may live under /tmp."""
import json
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from sbxlib import BIN, e2e_root

GIT = r'''
set -eu
{unset_proxy}
export HOME="$PWD/home" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
export GIT_AUTHOR_NAME=agent GIT_AUTHOR_EMAIL=agent@example.com
export GIT_COMMITTER_NAME=agent GIT_COMMITTER_EMAIL=agent@example.com
git clone -q https://git.example.com/repo.git clone
cd clone
echo "pushed from {mode}" > from-sandbox.txt
git add from-sandbox.txt
git commit -q -m "sandbox commit {mode}"
git push -q origin HEAD:refs/heads/sbx-{mode}
echo "remote: $(git remote get-url origin)"
echo "proxy: ${{HTTPS_PROXY:-none}} ${{https_proxy:-none}}"
echo "helper: $(git config --get-urlmatch credential.helper https://git.example.com/)"
'''

NODE = r'''
set -eu
node fetch.mjs https://api.example.com/v1/sbx-node-{mode} GET "{{\"authorization\": \"Bearer $API_TOKEN\"}}"
'''


def _landlock_abi():
    import ctypes
    return ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)


MODES = [
    "netns",
    # No proxy variables at all: git's connection lands on the transparent listener.
    "netns-noproxy",
    pytest.param("landlock", marks=pytest.mark.skipif(
        _landlock_abi() < 4, reason="Landlock ABI < 4 (no TCP port rules)")),
]


@pytest.fixture
def git_gateway(make_gateway):
    def config(tmp):
        text = make_gateway.config(tmp, allow_hosts=["127.0.0.1"])
        text = text.replace('name = "api"\n', 'name = "api"\ntoken_env = ["API_TOKEN"]\n', 1)
        return text.replace('name = "git"\n', 'name = "git"\ngit_username = "x-access-token"\n', 1)
    gw = make_gateway(config_text=config)
    assert gw.wait_stderr(r"sandbox hand-over socket ", timeout=10), gw.stderr_text()
    return gw


def _project():
    project = pathlib.Path(tempfile.mkdtemp(prefix="gitnode-", dir=e2e_root()))
    return project


def _run(gw, project, mode, services, script):
    config = gw.config
    if mode == "landlock":
        # landlock mode connects to the configured port (no hand-over): name the one the
        # gateway picked (its configuration says port 0).
        config = gw.config.with_name("run-landlock.toml")
        config.write_text(gw.config.read_text().replace(
            'listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{gw.port}"', 1))
    proc = subprocess.run([BIN, "run", "--config", str(config), "--contain", mode.split("-")[0],
                           "--service", services, "--", "bash", "-c", script],
                          cwd=project, env=gw.env, capture_output=True, text=True, timeout=180)
    gw.record(f"sandbox {mode}", proc.stdout + proc.stderr)
    return proc


@pytest.mark.parametrize("mode", MODES)
def test_git_clone_and_push_through_the_credential_helper(git_gateway, nginx, mode):
    gw = git_gateway
    project = _project()
    try:
        unset = "unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy" \
            if mode.endswith("noproxy") else ""
        proc = _run(gw, project, mode, "git", GIT.format(mode=mode, unset_proxy=unset))
        assert proc.returncode == 0, proc.stderr + proc.stdout
        assert "git credential helper answers with the session token for git.example.com " \
               "(x-access-token)" in proc.stderr, proc.stderr
        # No credential in the remote URL or the repository's configuration.
        assert "remote: https://git.example.com/repo.git" in proc.stdout, proc.stdout
        if mode.endswith("noproxy"):  # so the transparent listener carried it
            assert "proxy: none none" in proc.stdout, proc.stdout
        assert "git-credential --username 'x-access-token'" in proc.stdout, proc.stdout
        config_text = (project / "clone" / ".git" / "config").read_text()
        assert "acm_" not in config_text and "@git.example.com" not in config_text
        log = subprocess.run(["git", "--git-dir", str(nginx.bare), "log", "--format=%s",
                              f"sbx-{mode}"], capture_output=True, text=True).stdout
        assert f"sandbox commit {mode}" in log
        # nginx checked the real user and password (basic auth) on the push.
        assert '"POST /repo.git/git-receive-pack" 200' in nginx.access_log()
        audit = [a for a in gw.wait_audit(1) if "git-receive-pack" in str(a.get("path", ""))]
        assert audit and {a["decision"] for a in audit} == {"allow"}, audit
    finally:
        shutil.rmtree(project, ignore_errors=True)


def test_git_without_a_git_service_gets_no_helper(git_gateway):
    gw = git_gateway
    project = _project()
    try:
        proc = _run(gw, project, "netns", "api",
                    'env | grep -c "^GIT_CONFIG_" || true; git config --get-urlmatch '
                    'credential.helper https://git.example.com/ || echo none')
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["0", "none"], proc.stdout
        assert "git credential helper" not in proc.stderr
    finally:
        shutil.rmtree(project, ignore_errors=True)


@pytest.mark.parametrize("mode", [m for m in MODES if m != "netns-noproxy"])
def test_node_fetch_reaches_the_service_with_the_session_token(git_gateway, node_dir, mode):
    if not shutil.which("node") or not (node_dir / "node_modules" / "undici").exists():
        pytest.fail("node or tests/e2e/node/node_modules missing: run scripts/setup-e2e")
    gw = git_gateway
    project = _project()
    try:
        shutil.copy(node_dir / "fetch.mjs", project / "fetch.mjs")
        shutil.copy(node_dir / "package.json", project / "package.json")
        shutil.copytree(node_dir / "node_modules", project / "node_modules", symlinks=True)
        proc = _run(gw, project, mode, "api", NODE.format(mode=mode))
        assert proc.returncode == 0, proc.stderr + proc.stdout
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["status"] == 200, out
        echo = json.loads(out["body"])
        assert echo["request_uri"] == f"/v1/sbx-node-{mode}"
        assert echo["auth_check"] == "bearer-ok", echo  # the upstream got the real credential
        audit = [a for a in gw.wait_audit(1) if str(a.get("path", "")) == f"/v1/sbx-node-{mode}"]
        assert audit and audit[0]["decision"] == "allow", audit
    finally:
        shutil.rmtree(project, ignore_errors=True)


def test_ps_shows_the_profile_and_a_running_gateway_gets_a_warning(git_gateway):
    gw = git_gateway
    project = _project()
    run = subprocess.Popen([BIN, "run", "--config", str(gw.config), "--name", "ps-profile",
                            "--profile", "codex", "--", "sh", "-c", "echo up; sleep 30"],
                           cwd=project, env=gw.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline().strip() == "up"
        ps = subprocess.run([BIN, "ps", "--config", str(gw.config)], env=gw.env,
                            capture_output=True, text=True, timeout=30)
        assert ps.returncode == 0, ps.stderr
        assert "PROFILE" in ps.stdout.splitlines()[0]
        line = [l for l in ps.stdout.splitlines() if l.startswith("ps-profile ")]
        assert line and line[0].split()[2] == "codex", ps.stdout
    finally:
        run.terminate()
        _, err = run.communicate(timeout=30)
        shutil.rmtree(project, ignore_errors=True)
    gw.record("sandbox ps", err)
    assert "profile codex (built in)" in err, err
    # The gateway was running already: the built-in's hosts are named, not silently refused.
    assert "warning: the running gateway does not allow api.openai.com" in err, err
