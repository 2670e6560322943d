"""The admin dashboard (docs/operations.md, "Dashboard") in a real headless Chromium driven over the
DevTools protocol: the page loads from the URL `cloakroom dashboard` prints, shows a request made
through the gateway (curl through the forward proxy) within two seconds, revoking from the page
makes the next request fail with 401 token_revoked, agent-controlled strings are shown as text, the
page without a token shows a login prompt and no data, and neither a DNS-rebinding name nor a
foreign Origin gets anything. A screenshot is kept as a test artifact."""
import asyncio
import base64
import json
import os
import pathlib
import re
import secrets
import socket
import sys
import time

import pytest
import requests
import websockets

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "browser"))
from blib import CHROMIUM, Browser  # noqa: E402

ADMIN_RE = re.compile(r"admin API on http://127\.0\.0\.1:(\d+)")
ADMIN_TOML = '\n[admin]\nlisten = "127.0.0.1:0"\n'
REBIND_NAME = "rebind.cloakroom.test"


def artifacts_dir():
    d = pathlib.Path(os.environ.get("CLOAKROOM_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


class Page:
    """One tab, driven over its DevTools WebSocket: navigate, evaluate, click like a mouse."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []  # every event received while waiting for answers

    async def call(self, method, params=None, timeout=10):
        self.next_id += 1
        mine = self.next_id
        await self.ws.send(json.dumps({"id": mine, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no answer to {method}"
            message = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if "method" in message:
                self.events.append(message)
            if message.get("id") == mine:
                assert "error" not in message, message
                return message["result"]

    async def eval(self, expression):
        result = await self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True})
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def wait_for(self, expression, timeout=10, interval=0.05):
        """Polls `expression` until it is truthy; an exception (the page is still loading) is false."""
        guarded = f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.eval(guarded)
            if value:
                return value
            await asyncio.sleep(interval)
        return None

    async def navigate(self, url):
        """Navigates and waits until the new document has loaded (not the one it replaces)."""
        before = await self.eval("performance.timeOrigin")
        await self.call("Page.navigate", {"url": url})
        assert await self.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'"), url

    async def click(self, selector):
        """A real mouse click in the middle of the element (it must be visible and on top)."""
        box = await self.eval(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            return document.elementFromPoint(x, y) === e ? {{x, y}} : null;
        }})()""")
        assert box, f"{selector} is not clickable"
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                         "button": "left", "clickCount": 1})

    async def screenshot(self, path):
        shot = await self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))


def run(coro):
    return asyncio.run(coro)


async def open_page(browser, url):
    tab = browser.open_tab("about:blank")
    ws = await websockets.connect(tab["webSocketDebuggerUrl"], max_size=None)
    page = Page(ws)
    await page.call("Page.enable")
    await page.call("Network.enable")
    await page.call("Emulation.setDeviceMetricsOverride",
                    {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    await page.navigate(url)
    return page


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    # Not a skip: scripts/setup-e2e installs chromium, so its absence is a broken setup.
    assert CHROMIUM is not None, "chromium is not installed (run scripts/setup-e2e)"
    b = Browser(tmp_path_factory.mktemp("dashboard-browser"),
                extra_args=[f"--host-resolver-rules=MAP {REBIND_NAME} 127.0.0.1"])
    yield b
    b.stop()


@pytest.fixture
def dash(make_gateway):
    gw = make_gateway(extra=ADMIN_TOML)
    line = gw.wait_stderr(r"admin API on http://", timeout=5)
    assert line, gw.stderr_text()
    port = int(ADMIN_RE.search(line).group(1))
    assert gw.wait_stderr(rf"dashboard on http://127\.0\.0\.1:{port}/dashboard", timeout=5)
    url = gw.cli("dashboard", "--port", str(port)).stdout.strip()
    admin_token = gw.cli("admin-token").stdout.strip()
    assert url == f"http://127.0.0.1:{port}/dashboard#token={admin_token}", url
    return gw, port, url, admin_token


def curl_status(gw, tok, path):
    p = gw.curl("-s", "-o", "-", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {tok}",
                f"https://api.example.com{path}")
    body, _, code = p.stdout.decode().rpartition("\n")
    return int(code), body


APP_READY = "!document.getElementById('app').hidden && document.getElementById('status').className === 'ok'"


def test_request_appears_within_two_seconds_and_revoke_ends_the_token(dash, browser, capsys):
    gw, port, url, admin_token = dash
    tok = gw.mint(hosts="api.example.com")
    tid = gw.token_id(tok)
    marker = "dash-" + secrets.token_hex(4)
    shown_after = []

    async def scenario():
        page = await open_page(browser, url)
        assert await page.wait_for(APP_READY), await page.eval("document.body.innerText")
        # The token left the address bar and the history at once; it stays in this tab only.
        assert await page.eval("location.href") == f"http://127.0.0.1:{port}/dashboard"
        assert await page.eval("sessionStorage.getItem('cloakroom-admin-token')") == admin_token

        code, _ = curl_status(gw, tok, f"/v1/{marker}")
        assert code == 200
        done = time.monotonic()
        row = f"[...document.querySelectorAll('#requests tbody td.path')].some(td => td.textContent === '/v1/{marker}')"
        assert await page.wait_for(row, timeout=5), "the request never appeared"
        elapsed = time.monotonic() - done
        assert elapsed <= 2.0, f"the request appeared after {elapsed:.2f} s"
        shown_after.append(elapsed)

        # The token's row, with its usage; a decision in the plot.
        token_row = f"#tokens tbody tr[data-token-id='{tid}']"
        assert await page.wait_for(f"!!document.querySelector(\"{token_row}\")")
        assert await page.eval(f"document.querySelector(\"{token_row} td:nth-child(3)\").textContent") == "1"
        assert await page.wait_for("document.querySelectorAll('#plot rect.d-allow').length > 0")

        # Filtering is client-side: another token's text hides the row, the marker keeps it.
        await page.eval(f"(() => {{ const f = document.getElementById('filter'); f.value = 'decision:deny';"
                        f" f.dispatchEvent(new Event('input')); }})()")
        assert not await page.eval(row)
        await page.eval(f"(() => {{ const f = document.getElementById('filter'); f.value = 'path:{marker} status:200';"
                        f" f.dispatchEvent(new Event('input')); }})()")
        assert await page.eval(row)

        # Revoke: a first click asks for confirmation, the second revokes.
        button = f"{token_row} button.revoke"
        await page.click(button)
        assert await page.wait_for(f"document.querySelector(\"{button}\").textContent === 'Click again to revoke'")
        await page.click(button)
        assert await page.wait_for(f"document.querySelector(\"{token_row} .revoked\") !== null", timeout=5), \
            await page.eval("document.getElementById('notice').textContent")
        assert "Revoked " + tid in await page.eval("document.getElementById('notice').textContent")

        code, body = curl_status(gw, tok, f"/v1/{marker}-after")
        assert code == 401, body
        assert json.loads(body)["error"] == "token_revoked"
        # The refusal shows up too (with the filter it matches), and the revocation itself.
        await page.eval("(() => { const f = document.getElementById('filter'); f.value = 'decision:deny';"
                        " f.dispatchEvent(new Event('input')); })()")
        denied = f"[...document.querySelectorAll('#requests tbody td.path')].some(td => td.textContent === '/v1/{marker}-after')"
        assert await page.wait_for(denied, timeout=5)
        revocation = f"[...document.querySelectorAll('#requests tbody tr')].some(tr => tr.children[1].textContent === 'revocation' && tr.children[4].title === '{tid}')"
        assert await page.eval(revocation)
        await page.eval("(() => { const f = document.getElementById('filter'); f.value = '';"
                        " f.dispatchEvent(new Event('input')); })()")
        assert await page.wait_for("document.querySelectorAll('#plot rect.d-deny').length > 0")

        # Every request the page made, as the browser sent it: the admin token went in the
        # Authorization header only, never in a URL or a Referer.
        await page.eval("1")  # collects the events that arrived meanwhile
        sent = [e["params"]["request"] for e in page.events if e["method"] == "Network.requestWillBeSent"]
        assert any(r["url"].endswith("/api/v1/revoke") for r in sent), [r["url"] for r in sent]
        for r in sent:
            assert admin_token not in r["url"], r["url"]
            headers = {k.lower(): v for k, v in r.get("headers", {}).items()}
            assert admin_token not in headers.get("referer", "")
            if "/api/v1/" in r["url"]:
                assert headers.get("authorization") == f"Bearer {admin_token}", r["url"]
                assert "cookie" not in headers
        shot = artifacts_dir() / "dashboard.png"
        await page.screenshot(shot)
        await page.ws.close()
        return shot

    shot = run(scenario())
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\ndashboard screenshot: {shot} (request shown {shown_after[0]:.2f} s after curl returned)")
    # The admin token never reached the gateway's logs or audit (a fragment is never sent).
    assert admin_token not in gw.stderr_text()
    assert admin_token not in gw.audit_path.read_text()


def connect_raw(gw, target):
    """A CONNECT with any bytes as its target, straight to the forward proxy; returns the answer."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target + b"\r\n\r\n")
        return s.recv(4096)


def test_agent_controlled_strings_are_shown_as_text(dash, browser):
    gw, port, url, _ = dash
    tok = gw.mint(hosts="api.example.com")
    marker = secrets.token_hex(4)
    # What an agent chooses reaches the audit: a CONNECT target that is no host name is quoted
    # in the refusal's reason as sent, and a path is audited normalized (< and > percent-encoded).
    payload = f"<img/src=x/onerror=window.pwned=1>{marker}"
    answer = connect_raw(gw, payload.encode())
    assert answer.startswith(b"HTTP/1.1 4"), answer
    r = gw.get("api.example.com", f"/v1/{marker}/<b>bold</b>", [("Authorization", f"Bearer {tok}")])
    assert r.status in (200, 404), r
    reasons = [rec["reason"] for rec in gw.wait_audit(2) if marker in rec.get("reason", "")]
    assert reasons and "<img/src" in reasons[0], gw.audit()[-3:]
    paths = [rec["path"] for rec in gw.audit() if marker in rec.get("path", "")]
    assert paths, gw.audit()

    async def scenario():
        page = await open_page(browser, url)
        assert await page.wait_for(APP_READY)
        reason_cell = f"[...document.querySelectorAll('#requests tbody td.reason')].find(td => td.textContent.includes('{marker}'))"
        path_cell = f"[...document.querySelectorAll('#requests tbody td.path')].find(td => td.textContent.includes('{marker}'))"
        assert await page.wait_for(f"!!{reason_cell} && !!{path_cell}", timeout=5)
        assert await page.eval(f"{reason_cell}.textContent") == reasons[0]
        assert await page.eval(f"{path_cell}.textContent") == paths[0]
        # No element was made from the strings, and nothing ran.
        assert await page.eval("document.querySelectorAll('#app img, #app b').length") == 0
        assert await page.eval(f"{reason_cell}.children.length + {path_cell}.children.length") == 0
        assert await page.eval("window.pwned === undefined")
        # The filter takes the same text as text.
        await page.eval(f"(() => {{ const f = document.getElementById('filter'); f.value = {json.dumps('reason:<img/src')};"
                        f" f.dispatchEvent(new Event('input')); }})()")
        assert await page.eval(f"document.querySelectorAll('#requests tbody tr').length") == 1
        assert await page.eval("document.querySelectorAll('#app img').length") == 0
        await page.ws.close()

    run(scenario())


def test_without_token_a_login_prompt_and_no_data(dash, browser):
    gw, port, url, admin_token = dash
    tok = gw.mint(hosts="api.example.com")
    assert curl_status(gw, tok, "/v1/before-login")[0] == 200

    async def scenario():
        # A new tab has its own sessionStorage: no token.
        page = await open_page(browser, f"http://127.0.0.1:{port}/dashboard")
        assert await page.wait_for("!document.getElementById('login').hidden")
        assert await page.eval("document.getElementById('app').hidden")
        assert await page.eval("document.querySelectorAll('#requests tbody tr, #tokens tbody tr').length") == 0
        assert "before-login" not in await page.eval("document.body.innerText")
        # A wrong token: refused, still the prompt, and it is not kept.
        await page.navigate("about:blank")  # else only the fragment changes: no new document
        await page.navigate(f"http://127.0.0.1:{port}/dashboard#token=cladm_{'0' * 64}")
        assert await page.wait_for("document.getElementById('login-error').textContent.includes('refused')")
        assert await page.eval("document.getElementById('app').hidden")
        assert await page.eval("sessionStorage.getItem('cloakroom-admin-token')") is None
        # Pasting the right one opens the dashboard.
        await page.eval(f"document.getElementById('login-token').value = {json.dumps(admin_token)}")
        await page.click("#login-form button")
        assert await page.wait_for(APP_READY)
        await page.ws.close()

    run(scenario())


def test_rebinding_names_and_foreign_origins_get_nothing(dash, browser):
    gw, port, url, admin_token = dash
    http = requests.Session()
    http.trust_env = False
    base = f"http://127.0.0.1:{port}"
    page = http.get(base + "/dashboard", timeout=10)
    assert page.status_code == 200 and "<title>Cloakroom dashboard</title>" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    auth = {"Authorization": f"Bearer {admin_token}"}
    answers = [page]
    for path in ("/dashboard", "/dashboard/app.js", "/api/v1/audit", "/api/v1/sessions"):
        # DNS rebinding: the attacker's name as Host.
        r = http.get(base + path, headers={**auth, "Host": f"{REBIND_NAME}:{port}"}, timeout=10)
        assert r.status_code == 421, (path, r.text)
        # A page of another origin (a cross-site fetch, a form, a link).
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": f"http://127.0.0.1:{port + 1}"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site"}):
            r = http.get(base + path, headers={**auth, **headers}, timeout=10)
            assert r.status_code == 403, (path, headers, r.text)
            answers.append(r)
    r = http.post(base + "/api/v1/revoke", headers={**auth, "Origin": "http://evil.example"},
                  json={"token_id": "0" * 32}, timeout=10)
    assert r.status_code == 403
    answers.append(r)
    answers.append(http.get(base + "/api/v1/audit", headers=auth, timeout=10))
    for r in answers:
        assert "Set-Cookie" not in r.headers
        assert not any(h.lower().startswith("access-control-") for h in r.headers), r.headers

    async def scenario():
        # The same in the browser: a rebinding name resolving to 127.0.0.1 gets no page.
        page = await open_page(browser, f"http://{REBIND_NAME}:{port}/dashboard#token={admin_token}")
        assert await page.wait_for("document.readyState === 'complete' && document.body !== null")
        text = await page.wait_for("document.body.innerText.includes('admin_bad_host') && document.body.innerText")
        assert text, await page.eval("document.documentElement.outerHTML")
        assert await page.eval("document.getElementById('app')") is None
        await page.ws.close()

    run(scenario())


def test_a_failed_reload_is_shown_with_its_error(dash, browser):
    gw, port, url, _ = dash
    good = gw.config.read_text()

    async def scenario():
        page = await open_page(browser, url)
        assert await page.wait_for(APP_READY)
        assert await page.eval("document.getElementById('reload-banner').hidden")
        # A configuration that does not load: the Reload button says why, and the previous one
        # keeps serving (the service table is still there).
        gw.config.write_text(good + "\n[[service]]\nname = \"broken\"\nhosts = 42\n")
        await page.click("#reload")
        banner = "document.getElementById('reload-banner')"
        assert await page.wait_for(f"!{banner}.hidden && {banner}.className === 'failed'", timeout=10)
        text = await page.eval(f"{banner}.textContent")
        # The button's reload, or the file watcher's if it came first (it polls every second).
        assert "The last reload failed (admin API" in text or "The last reload failed (file changed" in text, text
        assert "hosts" in text, text  # the loader's own error
        assert await page.wait_for("document.getElementById('notice').textContent.startsWith('Reload failed: ')")
        assert await page.eval("[...document.querySelectorAll('#config td')].some(td => td.textContent === 'api')")
        await page.screenshot(artifacts_dir() / "dashboard-reload-failed.png")
        # Fixed: the next reload clears the banner's error.
        gw.config.write_text(good)
        await page.click("#reload")
        assert await page.wait_for(f"{banner}.className === 'ok'", timeout=10)
        await page.ws.close()

    run(scenario())


def test_dashboard_command_needs_the_tcp_listener(gw):
    p = gw.cli("dashboard", check=False)
    assert p.returncode == 2
    assert "[admin] listen" in p.stderr
    assert "cladm_" not in p.stdout + p.stderr
