"""The browser bridge seen from inside `cloakroom run` (docs/browser.md, "Inside cloakroom run"):
a CDP client in the sandbox drives the allowed tab of a real headless Chromium through
localhost:9222 (the gateway's filter), never the browser's own port; and an OAuth-style login
opened with xdg-open calls back into the agent's local server in the sandbox, through a host
port bound for that sandbox only."""
import http.server
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "sandbox"))
from blib import BIN, CHROMIUM, SECRET_TITLE, Browser, Serve, free_port, page_server  # noqa: E402
from sbxlib import e2e_root, userns_works  # noqa: E402

# The "host browser" for logins: follows the provider's redirect to the loopback callback, the
# way a browser would, and writes what the callback answered (or the error) where the test and
# the sandbox can read it.
FOLLOWER = r'''import os, re, subprocess, sys, tempfile, urllib.request
url, out = sys.argv[2], sys.argv[1]
results = os.path.dirname(out)
if os.path.exists(os.path.join(results, "use-chromium")):
    # The real thing: Debian's chromium, headless, loads the URL, follows the provider's
    # redirect to the loopback callback and prints the page it ends on.
    profile = tempfile.mkdtemp(prefix="login-browser-")
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--user-data-dir=" + profile, "--dump-dom", url],
                           capture_output=True, text=True, timeout=60)
        body = re.sub(r"<[^>]*>", "", p.stdout).strip()
        text = ("answer " + body + " [chromium]") if body else "error chromium " + p.stderr[-300:]
    except Exception as e:
        text = "error " + type(e).__name__
else:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=20) as r:
            text = "answer " + r.read().decode()
    except Exception as e:
        text = "error " + type(e).__name__
with open(out + ".tmp", "w") as f:
    f.write(text)
os.rename(out + ".tmp", out)
'''


class Provider(http.server.ThreadingHTTPServer):
    """A fake OAuth provider: /authorize redirects to redirect_uri with a fresh code."""
    daemon_threads = True


def provider_server(codes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            code = "code-" + secrets.token_hex(8)
            codes.append(code)
            target = query["redirect_uri"][0] + "?code=" + code + "&state=" + query["state"][0]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = Provider(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class World:
    def __init__(self, tmp):
        self.tmp = tmp
        self.app_server = page_server("My App")
        self.secret_server = page_server(SECRET_TITLE)
        self.app_url = f"http://127.0.0.1:{self.app_server.server_address[1]}/app"
        self.secret_url = f"http://127.0.0.1:{self.secret_server.server_address[1]}/inbox"
        self.browser = Browser(tmp)
        self.app_tab = self.browser.open_tab(self.app_url)
        self.secret_tab = self.browser.open_tab(self.secret_url)
        self.codes = []
        self.provider = provider_server(self.codes)
        self.provider_port = self.provider.server_address[1]
        self.project = pathlib.Path(tempfile.mkdtemp(prefix="bridge-", dir=e2e_root()))
        self.project.chmod(0o755)
        follower = tmp / "follower.py"
        follower.write_text(FOLLOWER.replace("CHROMIUM", repr(CHROMIUM)))
        self.results = self.project / "results"
        self.results.mkdir()
        self.serve = Serve(tmp, f"""
[gateway]
listen = "127.0.0.1:0"
data_dir = "{tmp / 'data'}"
audit_log = "{tmp / 'audit.jsonl'}"

[browser]
cdp_upstream = "127.0.0.1:{self.browser.port}"
cdp_listen = "127.0.0.1:0"
open_command = ["/usr/bin/python3", "{follower}", "{self.results}/next"]
callback_timeout = "60s"

[[browser.cdp_target]]
type = "page"
url = "http://127.0.0.1:{self.app_server.server_address[1]}/*"

[[browser.target]]
url = "http://127.0.0.1:{self.provider_port}/authorize*"
""", ready=r"sandbox hand-over socket")
        home = tmp / "home"
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home),
                    "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                    "LANG": "C.UTF-8"}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            titles = {t["title"] for t in self.browser.targets()}
            if "My App" in titles and SECRET_TITLE in titles:
                break
            time.sleep(0.1)

    def run(self, script, name=None, timeout=120, **popen):
        (self.project / "inside.py").write_text(script)
        args = [BIN, "--config", str(self.serve.config), "run"]
        if name:
            args += ["--name", name]
        args += ["--", "/usr/bin/python3", "inside.py"]
        return subprocess.run(args, cwd=self.project, env=self.env, capture_output=True,
                              text=True, timeout=timeout, **popen)

    def start(self, script_name, script, name):
        (self.project / script_name).write_text(script)
        return subprocess.Popen(
            [BIN, "--config", str(self.serve.config), "run", "--name", name, "--",
             "/usr/bin/python3", script_name],
            cwd=self.project, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)

    def login_url(self, callback_port, state, host="localhost"):
        redirect = urllib.parse.quote(f"http://{host}:{callback_port}/callback", safe="")
        return (f"http://127.0.0.1:{self.provider_port}/authorize?client_id=agent"
                f"&redirect_uri={redirect}&state={state}")

    def stop(self):
        self.serve.stop()
        self.browser.stop()
        for server in (self.app_server, self.secret_server, self.provider):
            server.shutdown()
        shutil.rmtree(self.project, ignore_errors=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    assert CHROMIUM is not None, "chromium is not installed (run scripts/setup-e2e)"
    if not userns_works():
        pytest.skip("user namespaces unavailable for the current user on this kernel")
    w = World(tmp_path_factory.mktemp("sbxbridge"))
    yield w
    w.stop()


def records(world, kind):
    return [r for r in world.serve.audit() if r["kind"] == kind]


def wait_records(world, kind, predicate, timeout=10):
    """A forwarded connection is audited when it ends, just after the browser has its answer."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in records(world, kind) if predicate(r)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# ---- the DevTools proxy inside the sandbox -------------------------------------------------------

CDP_INSIDE = r'''
import asyncio, http.client, json, socket, sys
import websockets

def get(port, path):
    c = http.client.HTTPConnection("localhost", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read().decode()

status, body = get(9222, "/json/list")
print("LIST", status, body)
version = json.loads(get(9222, "/json/version")[1])["webSocketDebuggerUrl"]
print("VERSION", version)

async def drive():
    async with websockets.connect(version, max_size=None) as ws:
        ids = iter(range(1, 1000))
        async def call(method, params=None, session=None):
            i = next(ids)
            m = {"id": i, "method": method, "params": params or {}}
            if session: m["sessionId"] = session
            await ws.send(json.dumps(m))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if reply.get("id") == i:
                    return reply
        targets = await call("Target.getTargets")
        print("TARGETS", json.dumps(targets))
        target = [t for t in targets["result"]["targetInfos"] if t["type"] == "page"][0]
        attached = await call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        session = attached["result"]["sessionId"]
        await call("Page.enable", session=session)
        nav = await call("Page.navigate", {"url": APP_URL + "?from=sandbox"}, session=session)
        print("NAV", json.dumps(nav))
        for _ in range(100):
            href = await call("Runtime.evaluate", {"expression": "location.href + ' ' + document.title",
                                                   "returnByValue": True}, session=session)
            value = href["result"]["result"]["value"]
            if "from=sandbox" in value and "My App" in value:
                break
            await asyncio.sleep(0.1)
        print("EVAL", value)
        secret = await call("Target.attachToTarget", {"targetId": SECRET_ID, "flatten": True})
        print("SECRET_ATTACH", json.dumps(secret))

asyncio.run(drive())

# The browser's own DevTools port: not reachable from here (redirected to the transparent
# listener, which never dials loopback for a plain HTTP request).
try:
    status, body = get(REAL_PORT, "/json/list")
    print("REAL", status, "webSocketDebuggerUrl" in body)
except Exception as e:
    print("REAL failed", type(e).__name__)
# Nor through the forward proxy (absolute-form, then CONNECT): the gateway never dials loopback.
try:
    c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    c.request("GET", "http://127.0.0.1:%d/json/list" % REAL_PORT)
    r = c.getresponse()
    print("PROXIED", r.status, "webSocketDebuggerUrl" in r.read().decode())
except Exception as e:
    print("PROXIED failed", type(e).__name__)
try:
    c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    c.set_tunnel("127.0.0.1", REAL_PORT)
    c.request("GET", "/json/list")
    r = c.getresponse()
    print("TUNNEL", r.status, "webSocketDebuggerUrl" in r.read().decode())
except Exception as e:
    print("TUNNEL failed", type(e).__name__)
'''


def test_cdp_client_in_the_sandbox_drives_only_the_allowed_tab(world):
    script = CDP_INSIDE.replace("APP_URL", repr(world.app_url)) \
        .replace("SECRET_ID", repr(world.secret_tab["id"])) \
        .replace("REAL_PORT", str(world.browser.port))
    proc = world.run(script)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr + out
    assert "DevTools proxy inside at localhost:9222" in proc.stderr, proc.stderr
    listing = next(l for l in out.splitlines() if l.startswith("LIST "))
    status, body = listing.split(" ", 2)[1:]
    assert status == "200"
    assert [t["id"] for t in json.loads(body)] == [world.app_tab["id"]]
    assert f"ws://localhost:9222/devtools/page/{world.app_tab['id']}" in body
    assert "ws://localhost:9222/devtools/browser/" in out
    targets = json.loads(next(l for l in out.splitlines() if l.startswith("TARGETS "))[8:])
    assert [t["targetId"] for t in targets["result"]["targetInfos"] if t["type"] == "page"] == \
        [world.app_tab["id"]]
    assert "error" not in json.loads(next(l for l in out.splitlines() if l.startswith("NAV "))[4:])
    assert f"EVAL {world.app_url}?from=sandbox My App" in out
    secret = json.loads(next(l for l in out.splitlines() if l.startswith("SECRET_ATTACH "))[14:])
    assert secret["error"]["message"].startswith("Cloakroom refused"), secret
    # The other tab never shows, by title or id, and the browser's own port is out of reach.
    assert SECRET_TITLE not in out and SECRET_TITLE not in proc.stderr
    assert "REAL 200 True" not in out
    assert any(l.startswith("REAL failed") or (l.startswith("REAL ") and l.endswith("False"))
               for l in out.splitlines()), out
    assert str(world.browser.port) not in body
    for way in ("PROXIED", "TUNNEL"):
        line = next(l for l in out.splitlines() if l.startswith(way + " "))
        assert line.endswith("False") or " failed " in line, line
    # Served by the gateway's filter: audited as kind cdp.
    assert any(r["path"] == "/json/list" and r["decision"] == "allow"
               for r in records(world, "cdp")), records(world, "cdp")


# ---- OAuth callbacks -----------------------------------------------------------------------------

CALLBACK_INSIDE = r'''
import http.server, os, socket, subprocess, sys, threading
got = []
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        got.append(self.path)
        body = b"login complete"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ":" in BIND else socket.AF_INET
server = Server((BIND, PORT), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
rc = subprocess.run(["xdg-open", URL]).returncode
print("OPEN", rc, flush=True)
# The host browser writes its result into the project directory when it is done.
import time
for _ in range(600):
    if os.path.exists("results/next"):
        break
    time.sleep(0.05)
print("GOT", got)
print("BROWSER", open("results/next").read() if os.path.exists("results/next") else "none")
'''


def callback_script(world, url, port, bind="127.0.0.1", listen=True):
    script = CALLBACK_INSIDE.replace("BIND", repr(bind)).replace("PORT", str(port)) \
        .replace("URL", repr(url))
    if not listen:
        script = script.replace("server = Server((", "server = None and Server((") \
            .replace("threading.Thread(target=server.serve_forever, daemon=True).start()", "")
    return script


def clear_result(world):
    (world.results / "next").unlink(missing_ok=True)


@pytest.mark.parametrize("host,bind", [("localhost", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"),
                                       ("localhost", "::1")])
def test_oauth_callback_reaches_the_agents_server_in_the_sandbox(world, host, bind):
    clear_result(world)
    port = free_port()
    state = secrets.token_hex(6)
    url = world.login_url(port, state, host)
    proc = world.run(callback_script(world, url, port, bind))
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr + out
    assert "OPEN 0" in out, out + proc.stderr
    code = world.codes[-1]
    assert f"GOT ['/callback?code={code}&state={state}']" in out, out
    assert "BROWSER answer login complete" in out, out
    # Audited: the listen and the forwarded connection, never the code or the state.
    audit = world.serve.audit()
    text = json.dumps(audit)
    assert code not in text and state not in text
    listens = [r for r in records(world, "browser_callback")
               if r["method"] == "LISTEN" and r["host"] == f"localhost:{port}"]
    assert listens and listens[-1]["decision"] == "allow", listens
    calls = wait_records(world, "browser_callback",
                         lambda r: r["method"] == "CALLBACK" and r["host"] == f"localhost:{port}")
    assert calls and calls[-1]["decision"] == "tunnel" and calls[-1]["bytes_out"] > 0, calls


def test_oauth_login_through_the_real_host_browser(world):
    """The same login with Debian's chromium as the host browser: it loads the provider, follows
    the redirect to http://localhost:PORT/callback, and the agent's server in the sandbox gets
    the code."""
    clear_result(world)
    marker = world.results / "use-chromium"
    marker.write_text("1")
    try:
        port = free_port()
        state = secrets.token_hex(6)
        proc = world.run(callback_script(world, world.login_url(port, state), port))
    finally:
        marker.unlink()
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr + out
    assert "OPEN 0" in out, out + proc.stderr
    code = world.codes[-1]
    # A real browser may also ask the callback server for /favicon.ico.
    assert f"GOT ['/callback?code={code}&state={state}'" in out, out
    assert "BROWSER answer login complete [chromium]" in out, out
    calls = wait_records(world, "browser_callback",
                         lambda r: r["method"] == "CALLBACK" and r["host"] == f"localhost:{port}")
    assert calls and calls[-1]["decision"] == "tunnel", calls


def test_no_listener_inside_means_the_browsers_connection_is_closed(world):
    clear_result(world)
    port = free_port()
    url = world.login_url(port, "st")
    proc = world.run(callback_script(world, url, port, listen=False))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "OPEN 0" in proc.stdout
    assert "GOT []" in proc.stdout
    # The browser's request got no answer: the connection was closed.
    assert "BROWSER error" in proc.stdout, proc.stdout
    calls = wait_records(world, "browser_callback",
                         lambda r: r["method"] == "CALLBACK" and r["host"] == f"localhost:{port}")
    assert calls and all(r["decision"] == "deny" for r in calls), calls
    assert calls[-1]["reason"].startswith("nothing in the sandbox listens on port"), calls


HOLDER = r'''
import http.server, os, subprocess, sys, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
server = http.server.HTTPServer(("127.0.0.1", PORT), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("OPEN", subprocess.run(["xdg-open", URL]).returncode, flush=True)
while not os.path.exists("release-holder"):
    time.sleep(0.05)
'''

SQUATTER = r'''
import subprocess
r = subprocess.run(["xdg-open", URL], capture_output=True, text=True)
print("OPEN", r.returncode, r.stdout.strip(), r.stderr.strip(), flush=True)
'''


def test_another_sandbox_cannot_take_a_callback_port(world):
    clear_result(world)
    port = free_port()
    release = world.project / "release-holder"
    release.unlink(missing_ok=True)
    holder = world.start("holder.py", HOLDER.replace("PORT", str(port))
                         .replace("URL", repr(world.login_url(port, "a"))), "holder")
    try:
        line = holder.stdout.readline()
        assert line.strip() == "OPEN 0", line + holder.stderr.read()
        # A second sandbox naming the same port is refused before its URL is opened.
        squat = world.run(SQUATTER.replace("URL", repr(world.login_url(port, "b"))),
                          name="squatter")
        assert squat.returncode == 0, squat.stderr + squat.stdout
        assert "OPEN 1" in squat.stdout, squat.stdout
        assert 'is held for sandbox "holder"' in squat.stdout, squat.stdout
        refused = [r for r in records(world, "browser_callback")
                   if r["method"] == "LISTEN" and r["host"] == f"localhost:{port}"
                   and r["decision"] == "deny"]
        assert refused and refused[-1]["service"] == "squatter", refused
        # The open itself was refused (audited before the answer), so no browser saw it.
        opens = [r for r in records(world, "browser_open") if r["decision"] == "deny"
                 and "held for sandbox" in r["reason"]]
        assert opens, records(world, "browser_open")
    finally:
        release.write_text("")
        holder.wait(timeout=60)
        release.unlink(missing_ok=True)
    # The holder has ended: its callback port is let go.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the callback port stayed open after its sandbox ended")


def test_a_port_the_host_already_uses_is_refused(world):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        proc = world.run(SQUATTER.replace("URL", repr(world.login_url(port, "c"))))
        assert proc.returncode == 0, proc.stderr + proc.stdout
        assert "OPEN 1" in proc.stdout
        assert "something on the host already listens on 127.0.0.1:" + str(port) in proc.stdout
    finally:
        taken.close()


PLAYWRIGHT_INSIDE = r'''
const { chromium } = await import(PLAYWRIGHT);
const browser = await chromium.connectOverCDP("http://localhost:9222", { timeout: 30000 });
const pages = browser.contexts().flatMap((c) => c.pages());
console.log("PAGES " + JSON.stringify(pages.map((p) => p.url())));
const page = pages.find((p) => p.url().startsWith(APP_URL));
await page.goto(APP_URL + "?from=playwright");
console.log("TITLE " + (await page.title()));
console.log("EVAL " + (await page.evaluate(() => location.href)));
process.exit(0);
'''

PLAYWRIGHT = HERE.parent / "node" / "node_modules" / "playwright-core" / "index.mjs"


@pytest.mark.skipif(shutil.which("node") is None or not PLAYWRIGHT.exists(),
                    reason="node or playwright-core missing (run scripts/setup-e2e)")
def test_playwright_in_the_sandbox_drives_only_the_allowed_tab(world):
    """Playwright (playwright-core from npm, no browser download) connects over CDP to
    localhost:9222 inside the sandbox: Debian's chromium on the host, through the filter."""
    # Into the project directory: the sandbox hides the host's /tmp, where a checkout may live.
    inside = world.project / "node_modules" / "playwright-core"
    if not inside.exists():
        shutil.copytree(PLAYWRIGHT.parent, inside, symlinks=True)
    (world.project / "pw.mjs").write_text(
        PLAYWRIGHT_INSIDE.replace("PLAYWRIGHT", json.dumps(str(inside / "index.mjs")))
        .replace("APP_URL", json.dumps(world.app_url)))
    args = [BIN, "--config", str(world.serve.config), "run", "--", "node", "pw.mjs"]
    proc = subprocess.run(args, cwd=world.project, env=world.env, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr + out
    pages = json.loads(next(l for l in out.splitlines() if l.startswith("PAGES "))[6:])
    assert pages and all(p.startswith(world.app_url) for p in pages), pages
    assert "TITLE My App" in out
    assert f"EVAL {world.app_url}?from=playwright" in out
    assert SECRET_TITLE not in out and world.secret_url not in out
