"""The positive path: inside `cloakroom run`, curl and python3 requests reach a configured service
with the session token, through the forward proxy and (curl --noproxy '*', no proxy at all)
through the transparent listener and the gateway's DNS; the upstream sees the real credential.
The gateway is a real `cloakroom serve` (tests/e2e/gateway fixtures) running as the current user,
which the hand-over socket requires (SO_PEERCRED)."""
import json
import pathlib
import subprocess
import tempfile
import time

import pytest

from sbxlib import BIN, e2e_root

INSIDE = r'''
set -u
curl -sS --max-time 20 https://api.example.com/v1/sbx-curl -H "Authorization: Bearer $API_TOKEN"
echo
python3 - <<'PY'
import os, requests
r = requests.get("https://api.example.com/v1/sbx-requests",
                 headers={"Authorization": "Bearer " + os.environ["API_TOKEN"]}, timeout=20)
print(r.text)
PY
curl -sS --max-time 20 --noproxy '*' https://api.example.com/v1/sbx-noproxy -H "Authorization: Bearer $API_TOKEN"
echo
'''


@pytest.fixture
def sbx_gateway(make_gateway):
    def config(tmp):
        text = make_gateway.config(tmp, allow_hosts=["127.0.0.1"])
        return text.replace('name = "api"\n', 'name = "api"\ntoken_env = ["API_TOKEN"]\n', 1)
    gw = make_gateway(config_text=config)
    line = gw.wait_stderr(r"sandbox hand-over socket ", timeout=10)
    assert line, gw.stderr_text()
    return gw


def test_clients_reach_the_service_with_the_session_token(sbx_gateway):
    gw = sbx_gateway
    project = pathlib.Path(tempfile.mkdtemp(prefix="gw-", dir=e2e_root()))
    proc = subprocess.run([BIN, "run", "--config", str(gw.config), "--service", "api", "--", "bash",
                           "-c", INSIDE], cwd=project, env=gw.env, capture_output=True, text=True,
                          timeout=120)
    gw.record("sandbox", proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    echoes = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [e["request_uri"] for e in echoes] == ["/v1/sbx-curl", "/v1/sbx-requests",
                                                  "/v1/sbx-noproxy"], proc.stdout
    for echo in echoes:
        assert echo["auth_check"] == "bearer-ok", echo  # the upstream got the real credential
    audit = [a for a in gw.wait_audit(3) if str(a.get("path", "")).startswith("/v1/sbx-")]
    assert {a["decision"] for a in audit} == {"allow"}, audit


def test_ps_lists_the_running_sandbox(sbx_gateway):
    gw = sbx_gateway
    project = pathlib.Path(tempfile.mkdtemp(prefix="gw-", dir=e2e_root()))
    run = subprocess.Popen([BIN, "run", "--config", str(gw.config), "--name", "ps-visible", "--",
                            "sh", "-c", "echo up; sleep 30"], cwd=project, env=gw.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline().strip() == "up"
        ps = subprocess.run([BIN, "ps", "--config", str(gw.config)], env=gw.env,
                            capture_output=True, text=True, timeout=30)
        assert ps.returncode == 0, ps.stderr
        line = [l for l in ps.stdout.splitlines() if l.startswith("ps-visible ")]
        assert line, ps.stdout
        assert line[0].split()[-1] == "4"  # forward, transparent x2, dns
    finally:
        run.terminate()
        run.wait(timeout=30)
    ps = subprocess.run([BIN, "ps", "--config", str(gw.config)], env=gw.env,
                        capture_output=True, text=True, timeout=30)
    assert "ps-visible" not in ps.stdout


RECORDER = """import sys
with open(sys.argv[1], "a") as f:
    f.write(sys.argv[2] + "\\n")
"""

OPEN_INSIDE = r'''
xdg-open 'https://accounts.example.com/o/oauth2?state=st-1'; echo "rc=$?"
xdg-open 'https://evil.example/?accounts.example.com/o/oauth'; echo "rc=$?"
"$BROWSER" 'https://accounts.example.com/o/oauth3'; echo "rc=$?"
open 'file:///etc/passwd'; echo "rc=$?"
test -S /run/cloakroom/browser.sock && echo "socket=yes"
ls "$DATA_DIR" >/dev/null 2>&1 && echo "data=visible" || echo "data=hidden"
'''


def test_openers_inside_hand_urls_to_the_gateway(make_gateway, tmp_path):
    """xdg-open, $BROWSER and open inside a netns sandbox reach the gateway's open-URL socket;
    the gateway opens only what a [[browser.target]] allows (docs/browser.md)."""
    recorder = tmp_path / "recorder.py"
    recorder.write_text(RECORDER)
    opened = tmp_path / "opened.txt"

    def config(tmp):
        return make_gateway.config(tmp, allow_hosts=["127.0.0.1"]) + f"""
[browser]
open_command = ["/usr/bin/python3", "{recorder}", "{opened}"]

[[browser.target]]
url = "https://accounts.example.com/o/oauth*"
"""
    gw = make_gateway(config_text=config)
    assert gw.wait_stderr(r"sandbox hand-over socket ", timeout=10), gw.stderr_text()
    project = pathlib.Path(tempfile.mkdtemp(prefix="gw-", dir=e2e_root()))
    env = dict(gw.env, DATA_DIR=str(gw.data_dir))
    proc = subprocess.run([BIN, "run", "--config", str(gw.config), "--", "bash", "-c", OPEN_INSIDE],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    gw.record("sandbox", proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert [l for l in proc.stdout.splitlines() if l.startswith("rc=")] == \
        ["rc=0", "rc=1", "rc=0", "rc=1"], proc.stdout + proc.stderr
    assert "socket=yes" in proc.stdout and "data=hidden" in proc.stdout, proc.stdout
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not opened.exists() or
                                           len(opened.read_text().splitlines()) < 2):
        time.sleep(0.05)
    assert opened.read_text().splitlines() == ["https://accounts.example.com/o/oauth2?state=st-1",
                                               "https://accounts.example.com/o/oauth3"]
