"""The DevTools proxy against a real headless Chromium: an agent sees and drives the allowed tab
only, whatever endpoint, message shape or command it tries (docs/browser.md). Grouped by
guarantee; each test would fail if the bypass it tries worked."""
import asyncio
import http.client
import itertools
import json
import secrets
import time
import urllib.parse

import pytest
import websockets

import blib



# ---- helpers ------------------------------------------------------------------------------------

def http_get(bridge, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", bridge.serve.cdp_port, timeout=10)
    conn.request(method, path, headers=headers or {"Host": bridge.proxy})
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, body


class Cdp:
    """A minimal CDP client over python3-websockets: commands by id, events collected."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.events = []

    async def send_raw(self, message):
        await self.ws.send(message)

    async def recv_until(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no matching message from the proxy"
            message = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if predicate(message):
                return message
            self.events.append(message)

    async def call(self, method, params=None, session=None, timeout=10):
        id_ = next(self.ids)
        message = {"id": id_, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        return await self.recv_until(lambda m: m.get("id") == id_, timeout)


def browser_ws_url(bridge):
    status, body = http_get(bridge, "/json/version")
    assert status == 200, body
    return json.loads(body)["webSocketDebuggerUrl"]


def run(coro):
    return asyncio.run(coro)


def refused(reply):
    return "error" in reply and reply["error"]["message"].startswith("Cloakroom refused")


# ---- HTTP endpoints ----------------------------------------------------------------------------

def test_list_shows_only_the_allowed_tab_through_the_proxy(bridge):
    status, body = http_get(bridge, "/json/list")
    assert status == 200, body
    targets = json.loads(body)
    assert [t["id"] for t in targets] == [bridge.app_tab["id"]]
    assert targets[0]["webSocketDebuggerUrl"] == f"ws://{bridge.proxy}/devtools/page/{bridge.app_tab['id']}"
    assert bridge.secret_title not in body and bridge.secret_tab["id"] not in body
    assert str(bridge.browser.port) not in body  # the browser's own port is never revealed
    status, same = http_get(bridge, "/json")
    assert status == 200 and json.loads(same)[0]["id"] == bridge.app_tab["id"]


def test_version_names_the_proxy(bridge):
    url = browser_ws_url(bridge)
    assert url.startswith(f"ws://{bridge.proxy}/devtools/browser/")


def test_other_endpoints_and_other_tabs_are_refused(bridge):
    secret = bridge.secret_tab["id"]
    for path in (f"/json/close/{secret}", f"/json/activate/{secret}", "/JSON/list", "/json/list/",
                 "/devtools/inspector.html", "/json/unknown"):
        status, _ = http_get(bridge, path)
        assert status in (403, 404), path
    status, _ = http_get(bridge, "/json/new?http://127.0.0.1:1/elsewhere", method="PUT")
    assert status == 403
    status, _ = http_get(bridge, "/json/new?file:///etc/passwd", method="PUT")
    assert status == 403
    # The secret tab is still open: the refused close never reached the browser.
    assert secret in [t["id"] for t in bridge.browser.targets()]


def test_dns_rebinding_and_web_pages_are_refused(bridge):
    status, body = http_get(bridge, "/json/list", headers={"Host": f"evil.example:{bridge.serve.cdp_port}"})
    assert status == 403 and bridge.app_tab["id"] not in body
    status, body = http_get(bridge, "/json/list",
                            headers={"Host": bridge.proxy, "Origin": "https://evil.example"})
    assert status == 403 and bridge.app_tab["id"] not in body


# ---- the browser WebSocket ---------------------------------------------------------------------

def test_agent_lists_attaches_and_evaluates_in_the_allowed_tab_only(bridge):
    async def scenario():
        async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
            cdp = Cdp(ws)
            targets = await cdp.call("Target.getTargets")
            ids = [t["targetId"] for t in targets["result"]["targetInfos"]]
            assert ids == [bridge.app_tab["id"]]
            attached = await cdp.call("Target.attachToTarget",
                                      {"targetId": bridge.app_tab["id"], "flatten": True})
            session = attached["result"]["sessionId"]
            title = await cdp.call("Runtime.evaluate", {"expression": "document.title"}, session)
            assert title["result"]["result"]["value"] == "My App"
            assert title["sessionId"] == session
            denied = await cdp.call("Target.attachToTarget",
                                    {"targetId": bridge.secret_tab["id"], "flatten": True})
            assert refused(denied)
            for method, params in (("Target.attachToBrowserTarget", {}),
                                   ("Target.exposeDevToolsProtocol", {"targetId": bridge.app_tab["id"]}),
                                   ("Target.createTarget", {"url": "file:///etc/passwd"}),
                                   ("Target.createTarget", {"url": "chrome://settings"}),
                                   ("Storage.getCookies", {}),
                                   ("Network.getAllCookies", {}),
                                   ("Fetch.enable", {})):
                assert refused(await cdp.call(method, params)), method
            for method, params in (("Storage.getCookies", {}), ("Network.getAllCookies", {}),
                                   ("DOM.setFileInputFiles", {"files": ["/etc/passwd"], "nodeId": 1}),
                                   ("Tethering.bind", {"port": 9}),
                                   ("Network.getCookies", {"urls": [bridge.secret_url]})):
                reply = await cdp.call(method, params, session)
                assert refused(reply), method
                assert reply["sessionId"] == session
            # Inside the allowed tab, ordinary automation works, Fetch included.
            assert "result" in await cdp.call("Fetch.enable", {}, session)
            assert "result" in await cdp.call("Fetch.disable", {}, session)
    run(scenario())


def test_fragmented_messages_and_key_tricks_are_judged_whole(bridge):
    async def scenario():
        async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
            cdp = Cdp(ws)
            attached = await cdp.call("Target.attachToTarget",
                                      {"targetId": bridge.app_tab["id"], "flatten": True})
            session = attached["result"]["sessionId"]
            # One message in many WebSocket frames: a filter that looked at one frame would miss it.
            text = json.dumps({"id": 900, "sessionId": session, "method": "Storage.getCookies",
                               "params": {}})
            await ws.send([text[i:i + 7] for i in range(0, len(text), 7)])
            reply = await cdp.recv_until(lambda m: m.get("id") == 900)
            assert refused(reply)
            text = json.dumps({"id": 901, "sessionId": session, "method": "Runtime.evaluate",
                               "params": {"expression": "1+2"}})
            await ws.send([text[i:i + 5] for i in range(0, len(text), 5)])
            reply = await cdp.recv_until(lambda m: m.get("id") == 901)
            assert reply["result"]["result"]["value"] == 3
            # Duplicate keys, an escaped key, a differently cased key.
            for raw in ('{"id":902,"sessionId":"%s","method":"Runtime.evaluate","method":"Storage.getCookies"}' % session,
                        '{"id":903,"sessionId":"%s","met\\u0068od":"Storage.getCookies"}' % session,
                        '{"id":904,"Method":"Storage.getCookies","method":"Browser.getVersion"}'):
                await ws.send(raw)
                reply = await cdp.recv_until(lambda m: m.get("id") in (902, 903, 904))
                assert "error" in reply, raw
    run(scenario())


def test_events_never_mention_other_tabs(bridge):
    async def scenario():
        async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
            cdp = Cdp(ws)
            assert "result" in await cdp.call("Target.setDiscoverTargets", {"discover": True})
            assert "result" in await cdp.call("Target.setAutoAttach",
                                              {"autoAttach": True, "waitForDebuggerOnStart": False,
                                               "flatten": True})
            # Another tab opens outside the rules, and the secret tab reloads.
            other = bridge.browser.open_tab(bridge.secret_url + "?again")
            try:
                await cdp.call("Browser.getVersion")  # a round trip, so events have arrived
                await asyncio.sleep(1.0)
                await cdp.call("Browser.getVersion")
                seen = json.dumps(cdp.events)
                assert bridge.app_tab["id"] in seen  # discovery works for the allowed tab
                assert bridge.secret_tab["id"] not in seen and other["id"] not in seen
                assert bridge.secret_title not in seen and "/inbox" not in seen
            finally:
                http_close_real(bridge, other["id"])
    run(scenario())


def http_close_real(bridge, target_id):
    import urllib.request
    urllib.request.urlopen(f"http://127.0.0.1:{bridge.browser.port}/json/close/{target_id}", timeout=10).read()


async def attach_watching(cdp, target_id):
    """Attaches to a tab with every domain on that reports navigations, requests and cookies."""
    attached = await cdp.call("Target.attachToTarget", {"targetId": target_id, "flatten": True})
    session = attached["result"]["sessionId"]
    for method in ("Page.enable", "Network.enable", "Runtime.enable", "Log.enable"):
        assert "result" in await cdp.call(method, {}, session), method
    await cdp.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session)
    return session


def urls_in(value):
    """Every URL-valued field of an event (url, documentURL, request.url, frame.url, ...)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.lower().endswith("url") and isinstance(inner, str):
                yield inner
            else:
                yield from urls_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from urls_in(inner)


def assert_nothing_of_the_secret_page(bridge, cdp):
    """No event reports a request, response, frame or document at the secret page, nor its
    title or the cookie it sets. (The allowed page may name it: a link, a redirect's Location.)"""
    for event in cdp.events:
        assert bridge.secret_url not in list(urls_in(event.get("params", {}))), event
    seen = json.dumps(cdp.events)
    assert bridge.secret_title not in seen
    assert bridge.secret_title.replace(" ", "_") not in seen  # the secret site's cookie


def test_a_tab_that_navigates_out_of_the_rules_is_detached(bridge):
    async def scenario():
        tab = bridge.browser.open_tab(bridge.app_url + "?moving")
        try:
            async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
                cdp = Cdp(ws)
                session = await attach_watching(cdp, tab["id"])
                # A direct Page.navigate out of the rules is refused up front...
                assert refused(await cdp.call("Page.navigate", {"url": bridge.secret_url}, session))
                # ...and a navigation the page starts itself ends the session at its first
                # event: none that names the new page, its response or its cookies gets through.
                await cdp.call("Runtime.evaluate",
                               {"expression": f"setTimeout(() => location.href = {json.dumps(bridge.secret_url)}, 100)"},
                               session)
                detached = await cdp.recv_until(
                    lambda m: m.get("method") == "Target.detachedFromTarget"
                    and m["params"]["sessionId"] == session, timeout=15)
                assert detached["params"]["targetId"] == tab["id"]
                after = await cdp.call("Runtime.evaluate", {"expression": "document.title"}, session)
                assert "error" in after
                assert_nothing_of_the_secret_page(bridge, cdp)
        finally:
            http_close_real(bridge, tab["id"])
    run(scenario())


@pytest.mark.parametrize("setup, via_redirect", [([], False), (["Page.enable", "Page.disable"], False),
                                                 ([], True)],
                         ids=["nothing-enabled", "page-disabled", "redirect"])
def test_an_agent_without_page_events_never_reaches_the_page_out_of_the_rules(bridge, setup, via_redirect):
    """An agent that enabled no domain (or turned Page off again) navigates its tab out of the
    rules and asks for the page's title and cookie without pause. Directly: the new page's server
    holds its answer, and the tab must be detached while it does (the filter's own Page
    subscription reports the navigation's start). Through a redirect from an allowed hop: the
    first event naming the new page is its commit (frameNavigated), which Chrome sends before any
    answer from that page. Either way nothing from the new page reaches the agent."""
    canary = secrets.token_hex(8)
    title = f"Held {canary}"
    # Another host than the allowed page's, so neither page can read the other's cookies.
    held = blib.held_page_server("127.0.0.2", title, f"held={canary}")
    held_url = f"http://127.0.0.2:{held.server_address[1]}/held"

    async def scenario():
        tab = bridge.browser.open_tab(bridge.app_url + "?unwatched")
        try:
            async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
                cdp = Cdp(ws)
                attached = await cdp.call("Target.attachToTarget", {"targetId": tab["id"], "flatten": True})
                session = attached["result"]["sessionId"]
                for method in setup:
                    assert "result" in await cdp.call(method, {}, session), method
                cdp.events.clear()
                asked = {}

                async def ask(expression):
                    id_ = next(cdp.ids)
                    asked[id_] = expression
                    await ws.send(json.dumps({"id": id_, "sessionId": session, "method": "Runtime.evaluate",
                                              "params": {"expression": expression, "returnByValue": True}}))

                async def drain(seconds):
                    try:
                        while True:
                            cdp.events.append(json.loads(await asyncio.wait_for(ws.recv(), seconds)))
                    except asyncio.TimeoutError:
                        pass

                def detached():
                    return any(m.get("method") == "Target.detachedFromTarget"
                               and m["params"]["sessionId"] == session for m in cdp.events)

                probe = "document.title + '|' + document.cookie"
                if via_redirect:
                    held.release.set()
                    hop = bridge.app_url.rsplit("/", 1)[0] + "/redirect?to=" + \
                        urllib.parse.quote(held_url, safe="")
                    await ask(f"void (location.href = {json.dumps(hop)})")
                else:
                    await ask(f"void (location.href = {json.dumps(held_url)})")
                    deadline = time.monotonic() + 15
                    while not detached() and time.monotonic() < deadline:
                        await ask(probe)
                        await drain(0.01)
                    assert detached(), "the navigation's start did not end the session"
                    assert not held.release.is_set()
                    # Chrome really heads there: its request waits at the held server.
                    assert held.asked.wait(15), "the browser never asked for the page out of the rules"
                    held.release.set()
                # Until the tab shows the new page (seen on the browser's own port), and a while
                # after, the agent keeps asking on the session it had.
                deadline = time.monotonic() + 15
                committed = False
                while time.monotonic() < deadline and not committed:
                    await ask(probe)
                    await drain(0.01)
                    committed = any(t["id"] == tab["id"] and t["title"] == title
                                    for t in bridge.browser.targets())
                assert committed, "the tab never showed the page out of the rules"
                for _ in range(20):
                    await ask(probe)
                # Every command gets its answer (a refusal once the session is gone).
                answered = {m.get("id") for m in cdp.events}
                while not set(asked) <= answered:
                    cdp.events.append(await cdp.recv_until(lambda m: m.get("id") in asked))
                    answered = {m.get("id") for m in cdp.events}
                assert detached()
                seen = json.dumps(cdp.events)
                assert canary not in seen
                assert "127.0.0.2" not in seen  # no URL, frame or request of the new page
                # The filter's own Page subscription is not the agent's: it never enabled Page.
                assert not [m for m in cdp.events if m.get("method", "").startswith("Page.")]
                # Every command after the detach is refused.
                replies = {m["id"]: m for m in cdp.events if m.get("id") in asked}
                first_refused = min(i for i, r in replies.items() if "error" in r)
                assert all("error" in r for i, r in replies.items() if i > first_refused)
        finally:
            held.release.set()
            http_close_real(bridge, tab["id"])
            held.shutdown()
    run(scenario())


def test_a_redirect_out_of_the_rules_detaches_before_the_new_page_is_seen(bridge):
    async def scenario():
        tab = bridge.browser.open_tab(bridge.app_url + "?redirected")
        try:
            async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
                cdp = Cdp(ws)
                session = await attach_watching(cdp, tab["id"])
                # The URL asked for is inside the rules; the server sends the tab elsewhere.
                hop = bridge.app_url.rsplit("/", 1)[0] + "/redirect?to=" + \
                    urllib.parse.quote(bridge.secret_url, safe="")
                navigated = await cdp.call("Page.navigate", {"url": hop}, session)
                # Not refused up front; answered with the detach if that came first.
                assert "result" in navigated or \
                    "the target left the allowed rules" in navigated["error"]["message"], navigated
                if not any(m.get("method") == "Target.detachedFromTarget" for m in cdp.events):
                    await cdp.recv_until(
                        lambda m: m.get("method") == "Target.detachedFromTarget"
                        and m["params"]["sessionId"] == session, timeout=15)
                assert "error" in await cdp.call("Runtime.evaluate", {"expression": "1"}, session)
                assert_nothing_of_the_secret_page(bridge, cdp)
                assert any(m.get("method") == "Network.requestWillBeSent"
                           and "/redirect?to=" in json.dumps(m) for m in cdp.events), \
                    "the allowed first hop is reported as usual"
        finally:
            http_close_real(bridge, tab["id"])
    run(scenario())


# ---- the page WebSocket ------------------------------------------------------------------------

def test_page_socket_of_the_allowed_tab_works_and_of_another_is_refused(bridge):
    async def scenario():
        url = f"ws://{bridge.proxy}/devtools/page/{bridge.app_tab['id']}"
        async with websockets.connect(url, max_size=None) as ws:
            cdp = Cdp(ws)
            title = await cdp.call("Runtime.evaluate", {"expression": "document.title"})
            assert title["result"]["result"]["value"] == "My App"
            assert "sessionId" not in title
            assert refused(await cdp.call("Storage.getCookies"))
        secret_url = f"ws://{bridge.proxy}/devtools/page/{bridge.secret_tab['id']}"
        try:
            async with websockets.connect(secret_url) as ws:
                raise AssertionError("the proxy accepted a WebSocket to a disallowed tab")
        except websockets.exceptions.InvalidStatusCode as e:
            assert e.status_code == 403
    run(scenario())


def test_refusals_are_audited_by_method_without_parameters(bridge):
    async def scenario():
        async with websockets.connect(browser_ws_url(bridge), max_size=None) as ws:
            cdp = Cdp(ws)
            await cdp.call("Network.getAllCookies", {"marker": "param-canary-81f2"})
    run(scenario())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = [r for r in bridge.serve.audit() if r.get("kind") == "cdp"]
        if any(r.get("method") == "Network.getAllCookies" for r in records):
            break
        time.sleep(0.1)
    assert any(r.get("method") == "Network.getAllCookies" and r["decision"] == "deny" for r in records)
    assert any(r.get("path") == "/json/list" and r["decision"] == "allow" for r in records)
    text = bridge.serve.audit_path.read_text()
    assert "param-canary-81f2" not in text and bridge.secret_title not in text
