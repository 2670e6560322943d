"""A hot reload (SIGHUP) and the transparent front ends: a connection opened before the reload routes
its next request by the new configuration (docs/architecture.md), over TLS (SNI, then each request
routed again) and over plain HTTP (each request routed by its Host under the new snapshot). The
connections stay open across the reload; the client (reload_client.py) runs in a sandbox namespace
whose outgoing TCP is redirected to the transparent listener."""
import json
import threading
import time

from tlib import HERE, PYTHON, reload_transparent, run_sandbox

DENY_SOON = '[[service.deny]]\npaths = ["/v1/soon-denied/**"]\n'


def deny_soon_on_plain(text):
    """The plain.example.com service gets the same deny rule as api.example.com."""
    marker = 'name = "plain"\n'
    assert marker in text
    head, _, tail = text.partition(marker)
    allow = '[[service.allow]]\nmethods = ["GET", "HEAD"]\n'
    assert allow in tail
    return head + marker + tail.replace(allow, allow + "\n" + DENY_SOON, 1)


def test_open_transparent_connections_follow_the_reloaded_rules(tgw, tmp_path):
    tok = tgw.mint(methods="GET")
    ready, go = tmp_path / "ready", tmp_path / "go"
    command = f"{PYTHON} {HERE / 'reload_client.py'} {tgw.ca_path} {tok} {ready} {go}"
    result = {}

    def client():
        result["report"] = run_sandbox(tgw, {"listeners": ["transparent", "transparent6", "dns", "dns-tcp"],
                                             "nft": True, "command": command})

    t = threading.Thread(target=client, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while not ready.exists() and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert ready.exists(), result
        reload_transparent(tgw, edit=deny_soon_on_plain, api_rules=DENY_SOON)
        # A new connection sees the reload (the forward proxy, for the plain service).
        auth = [("Authorization", f"Bearer {tok}")]
        assert tgw.get("api.example.com", "/v1/soon-denied/x", auth).status == 403
    finally:
        go.touch()
        t.join(90)
    r = result["report"]
    assert r["rc"] == 0, r["stderr"]
    out = json.loads(r["stdout"])
    assert out["before"] == [200, 200], out
    assert out["after"] == [200, 403, 200, 403], out
    assert out["same_connections"], out
    assert tok not in r["stdout"]
    recs = tgw.audit()
    denied = [a for a in recs if a.get("path", "").startswith("/v1/soon-denied/") and a["status"] == 403]
    assert {a["path"] for a in denied} >= {"/v1/soon-denied/4", "/v1/soon-denied/6"}, recs
    assert tgw.proc.poll() is None, tgw.stderr_text()
