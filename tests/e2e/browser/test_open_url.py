"""`cloakroom open URL` through the gateway's open-URL socket: only URLs a [[browser.target]]
allows reach the opener, exactly as parsed, and every decision is audited without the query
(docs/browser.md, "Opening URLs")."""
import json
import os
import re
import pathlib
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from blib import BIN, Serve  # noqa: E402

RECORDER = """import sys
with open(sys.argv[1], "a") as f:
    f.write(repr(sys.argv[2:]) + "\\n")
"""


@pytest.fixture(scope="module")
def opener(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open")
    recorder = tmp / "recorder.py"
    recorder.write_text(RECORDER)
    opened = tmp / "opened.txt"
    serve = Serve(tmp, f"""
[gateway]
listen = "127.0.0.1:0"
data_dir = "{tmp / 'data'}"
audit_log = "{tmp / 'audit.jsonl'}"

[browser]
open_command = ["/usr/bin/python3", "{recorder}", "{opened}"]

[[browser.target]]
url = "*accounts.google.com/o/oauth*"

[[browser.target]]
url = "http://localhost:*"
""", ready=r"listening on .*\(forward proxy\)")
    serve.opened = opened
    serve.data_dir = tmp / "data"
    serve.proxy_port = int(re.search(r"listening on 127\.0\.0\.1:(\d+) \(forward proxy\)",
                                     "".join(serve.lines)).group(1))
    yield serve
    serve.stop()


def cloakroom_open(opener, url):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "CLOAKROOM_BROWSER_SOCKET": str(opener.data_dir / "run" / "browser.sock")}
    return subprocess.run([BIN, "open", "--", url], env=env, capture_output=True, text=True, timeout=30)


def opened_urls(opener, expect=None, timeout=5, wanted=()):
    """The URLs the host opener was given so far; waits (bounded) until there are `expect` of
    them and every URL in `wanted` is among them (the opener runs asynchronously: an earlier
    test's URL may land late, so counting alone is not enough)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = opener.opened.read_text().splitlines() if opener.opened.exists() else []
        urls = [eval(line)[0] for line in lines]  # noqa: S307 (our own repr output)
        done = (expect is None or len(urls) >= expect) and all(w in urls for w in wanted)
        if done or time.monotonic() > deadline:
            return urls
        time.sleep(0.05)


def test_allowed_urls_are_opened_as_parsed(opener):
    result = cloakroom_open(opener, "HTTPS://Accounts.Google.com/o/oauth2/auth?state=st-4d1f&x=1")
    assert result.returncode == 0, result.stderr
    result = cloakroom_open(opener, "http://localhost:53123/callback?code=c0de-77")
    assert result.returncode == 0, result.stderr
    urls = opened_urls(opener, expect=2)
    assert "https://accounts.google.com/o/oauth2/auth?state=st-4d1f&x=1" in urls
    assert "http://localhost:53123/callback?code=c0de-77" in urls


def test_bypasses_are_refused_and_nothing_is_opened(opener):
    before = opened_urls(opener)
    for url in ("https://evil.example/?accounts.google.com/o/oauth",
                "https://accounts.google.com.evil.example/o/oauth",
                "http://localhost:1@evil.example/",
                "http://localhost.evil.example:80/",
                "file:///etc/passwd",
                "javascript:alert(1)",
                "data:text/html,<script>alert(1)</script>",
                "vscode://extension/install",
                "-https://accounts.google.com/o/oauth",
                "https://accounts.google.com\\@evil.example/o/oauth",
                "http://2130706433:80/",
                "https://accounts.google.com/o/oauth" + "a" * 9000):
        result = cloakroom_open(opener, url)
        assert result.returncode == 1, url
        assert "refused" in result.stderr, (url, result.stderr)
    time.sleep(0.3)
    assert opened_urls(opener) == before


def test_decisions_are_audited_without_the_query(opener):
    cloakroom_open(opener, "https://evil.example/x?token=q-canary-51a0")
    cloakroom_open(opener, "https://accounts.google.com/o/oauth2?state=q-canary-51a1")
    deadline = time.monotonic() + 5
    records = []
    while time.monotonic() < deadline:
        records = [r for r in opener.audit() if r.get("kind") == "browser_open"]
        if any(r["host"] == "evil.example" for r in records) and \
                any(r["decision"] == "allow" for r in records):
            break
        time.sleep(0.05)
    denied = [r for r in records if r["host"] == "evil.example"]
    assert denied and denied[-1]["decision"] == "deny" and denied[-1]["path"] == "/x"
    assert any(r["decision"] == "allow" and r["host"] == "accounts.google.com" for r in records)
    text = opener.audit_path.read_text()
    assert "q-canary-51a0" not in text and "q-canary-51a1" not in text


def test_without_a_gateway_the_error_is_clear(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "CLOAKROOM_BROWSER_SOCKET": str(tmp_path / "nothing.sock")}
    result = subprocess.run([BIN, "open", "https://accounts.google.com/o/oauth"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "cloakroom serve" in result.stderr


def landlock_abi():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(444, None, 0, 1)


LANDLOCK_INSIDE = r'''
xdg-open 'https://accounts.google.com/o/oauth2/ll?state=ll-1'; echo "rc=$?"
"$BROWSER" 'https://evil.example/?accounts.google.com/o/oauth'; echo "rc=$?"
open 'http://localhost:41999/cb'; echo "rc=$?"
'''


@pytest.mark.skipif(landlock_abi() < 4, reason="Landlock ABI < 4 (no TCP port rules)")
def test_openers_work_in_landlock_mode(opener, tmp_path):
    """landlock mode has no namespaces: the shims live in the session's private temporary
    directory and reach the gateway's socket by its host path (docs/browser.md)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "sandbox"))
    from sbxlib import e2e_root
    import shutil
    import tempfile
    project = pathlib.Path(tempfile.mkdtemp(prefix="ll-", dir=e2e_root()))
    before = len(opened_urls(opener))
    try:
        # landlock mode checks the gateway's proxy port: give it a fixed one to find.
        config = opener.config.read_text().replace('listen = "127.0.0.1:0"',
                                                   f'listen = "127.0.0.1:{opener.proxy_port}"')
        landlock_config = tmp_path / "landlock.toml"
        landlock_config.write_text(config)
        proc = subprocess.run([BIN, "--config", str(landlock_config), "run", "--contain",
                               "landlock", "--", "sh", "-c", LANDLOCK_INSIDE],
                              cwd=project, env=opener.env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        assert [l for l in proc.stdout.splitlines() if l.startswith("rc=")] == \
            ["rc=0", "rc=1", "rc=0"], proc.stdout + proc.stderr
        urls = opened_urls(opener, expect=before + 2, timeout=15,
                           wanted=("https://accounts.google.com/o/oauth2/ll?state=ll-1",
                                   "http://localhost:41999/cb"))
        assert "https://accounts.google.com/o/oauth2/ll?state=ll-1" in urls
        assert "http://localhost:41999/cb" in urls
        assert not any("evil.example" in u for u in urls)
    finally:
        shutil.rmtree(project, ignore_errors=True)
