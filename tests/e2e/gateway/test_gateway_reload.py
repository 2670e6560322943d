"""SIGHUP reload: applied without losing a request; a broken config keeps the last good one and says why."""
import threading
import time

import requests

import gwlib
import h2lib


def _poll(fn, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)


def _late_service(nginx, pki, name="late"):
    return f"""
[[service]]
name = "{name}"
hosts = ["{name}.example.com"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = "127.0.0.1:{nginx.port}"
upstream_ca = "{pki.ca}"
allow_private = true
"""


def test_reload_applies_new_config(make_gateway, nginx, pki):
    g = make_gateway()
    assert g.tunnel("late.example.com:443").connect.status == 403
    g.reload(g.build(extra=_late_service(nginx, pki)))
    assert _poll(lambda: g.tunnel("late.example.com:443").connect.status == 200), g.stderr_text()
    tok = g.mint(hosts="late.example.com", methods="GET")
    r = g.get("late.example.com", "/v1/late", [("Authorization", f"Bearer {tok}")])
    assert r.status == 200 and r.json()["auth_check"] == "bearer-ok"
    # and a rule added by reload is enforced
    g.reload(g.build(api_rules='[[service.deny]]\npaths = ["/v1/now-denied/**"]\n'))
    assert _poll(lambda: g.get("api.example.com", "/v1/now-denied/x").status == 403)
    assert g.get("api.example.com", "/v1/customers/x", method="DELETE").status == 200  # old deny rule gone


def test_reload_under_traffic_loses_no_request(make_gateway, nginx, pki):
    g = make_gateway()
    tok = g.mint(methods="GET")
    stop = threading.Event()
    results = {"ok": 0, "fail": []}
    lock = threading.Lock()

    def keepalive_client():
        with requests.Session() as s:
            s.trust_env = False
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = s.get(f"https://api.example.com/v1/traffic/{i}", proxies={"https": g.proxy_url},
                              verify=str(g.ca_path), headers={"Authorization": f"Bearer {tok}"}, timeout=10)
                    good = r.status_code == 200 and r.json()["auth_check"] == "bearer-ok"
                    with lock:
                        if good:
                            results["ok"] += 1
                        else:
                            results["fail"].append(f"keepalive {i}: {r.status_code} {r.text[:200]}")
                except Exception as e:  # noqa: BLE001 - every failure counts
                    with lock:
                        results["fail"].append(f"keepalive {i}: {e!r}")

    def fresh_connection_client():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = g.get("api.example.com", f"/v1/fresh/{i}", [("Authorization", f"Bearer {tok}")])
                with lock:
                    if r.status == 200:
                        results["ok"] += 1
                    else:
                        results["fail"].append(f"fresh {i}: {r!r}")
            except Exception as e:  # noqa: BLE001
                with lock:
                    results["fail"].append(f"fresh {i}: {e!r}")

    def slow_client():
        # in-flight requests are never cut: each takes 700 ms, spanning reloads
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = g.get("stream.example.com", "/slow?ms=700")
                with lock:
                    if r.status == 200:
                        results["ok"] += 1
                    else:
                        results["fail"].append(f"slow {i}: {r!r}")
            except Exception as e:  # noqa: BLE001
                with lock:
                    results["fail"].append(f"slow {i}: {e!r}")

    threads = [threading.Thread(target=f) for f in (keepalive_client, fresh_connection_client, slow_client)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        for i in range(6):
            extra = _late_service(nginx, pki, f"late{i}") if i % 2 == 0 else ""
            g.reload(g.build(extra=extra))
            time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert g.proc.poll() is None, g.stderr_text()
    assert results["fail"] == [], f"{len(results['fail'])} failed of {results['ok'] + len(results['fail'])}"
    assert results["ok"] > 20


def test_broken_config_keeps_last_good_one(make_gateway):
    g = make_gateway()
    tok = g.mint(methods="GET")
    good = g.config.read_text()
    before = len(g.stderr_lines)
    broken = good.replace("[gateway]\n", "[gateway]\nlisten_typo = 1\n", 1)
    g.reload(broken, wait_pattern=r"listen_typo")
    line = g.wait_stderr(r"listen_typo", start=before, timeout=5)
    assert line is not None, "stderr does not say why the reload failed:\n" + g.stderr_text()
    assert "cloakroom.toml" in g.stderr_text()
    assert g.proc.poll() is None
    r = g.get("api.example.com", "/v1/still", [("Authorization", f"Bearer {tok}")])
    assert r.status == 200 and r.json()["auth_check"] == "bearer-ok"
    assert g.get("api.example.com", "/v1/x", method="DELETE").status == 403  # old rules still apply

    # a syntax error too
    before = len(g.stderr_lines)
    g.reload(good + "\n[[service]\n", wait_pattern=r"error|invalid|cloakroom\.toml")
    assert g.wait_stderr(r"cloakroom\.toml:\d+", start=before, timeout=5), g.stderr_text()
    assert g.get("api.example.com", "/v1/still2", [("Authorization", f"Bearer {tok}")]).status == 200

    # and a good config afterwards is applied again
    g.reload(good.replace('paths = ["/v1/transfers/**"]', 'paths = ["/v1/fixed/**"]'))
    assert _poll(lambda: g.get("api.example.com", "/v1/fixed/x").status == 403), g.stderr_text()


def test_secret_unavailable_is_a_clean_error_never_half_injected(make_gateway, nginx):
    """The secret file disappears while serving: either the value was loaded before (200 with the real
    credential) or a clean Cloakroom error; never the token or an empty credential forwarded upstream."""
    g = make_gateway()
    tok = g.mint(methods="GET")
    assert g.get("api.example.com", "/v1/before", [("Authorization", f"Bearer {tok}")]).status == 200
    (g.tmp / "secrets" / "api.key").unlink()
    r = g.get("api.example.com", "/v1/secret-gone", [("Authorization", f"Bearer {tok}")])
    if r.status == 200:
        assert r.json()["auth_check"] == "bearer-ok", r
    else:
        assert r.status >= 500 or r.status == 403, r
        gwlib.error_body_ok(r)
        time.sleep(0.2)
        assert "/v1/secret-gone" not in nginx.access_log()
    assert g.proc.poll() is None


def test_an_open_connection_follows_the_reloaded_rules_on_its_next_request(make_gateway, nginx, pki):
    """A route points into the configuration it was decided by. A connection intercepted before a
    reload (HTTP/1.1 and HTTP/2 inside CONNECT) routes its next request by the new configuration:
    the new rules apply there, and the old configuration, freed by then, is never read. (A
    service that became a plain allowed host gets 421 there: unit test RoutedAgainBy...)"""
    g = make_gateway()
    tok = g.mint(methods="GET")
    auth = f"Bearer {tok}"

    def h1(tunnel, path):
        return tunnel.request(f"GET {path} HTTP/1.1\r\nHost: api.example.com\r\n"
                              f"Authorization: {auth}\r\n\r\n".encode())

    one = gwlib.Tunnel(g, "api.example.com:443")
    assert one.ok, one.connect
    one.start_tls("api.example.com", g.ca_path)
    try:
        with h2lib.Client(g, "api.example.com") as two:
            def h2get(path):
                sid = two.request("GET", path, [("authorization", auth)])
                return two.wait([sid], timeout=20)[sid].status

            assert h1(one, "/v1/soon-denied/1").status == 200
            assert h2get("/v1/soon-denied/2") == 200
            g.reload(g.build(api_rules='[[service.deny]]\npaths = ["/v1/soon-denied/**"]\n'))
            # A new connection sees the reload first; the open ones must agree with it.
            assert _poll(lambda: g.get("api.example.com", "/v1/soon-denied/x",
                                       [("Authorization", auth)]).status == 403)
            # Traffic that makes the old configuration's memory be reused.
            for i in range(20):
                assert g.get("api.example.com", f"/v1/fill/{i}", [("Authorization", auth)]).status == 200
            assert h1(one, "/v1/soon-denied/3").status == 403
            assert h2get("/v1/soon-denied/4") == 403
            assert h1(one, "/v1/customers/5").status == 200
            assert h2get("/v1/customers/6") == 200
    finally:
        one.close()
    assert g.proc.poll() is None, g.stderr_text()
