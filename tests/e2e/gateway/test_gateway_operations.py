"""Operating Cloakroom (docs/operations.md): the admin listener's /metrics scraped by a real
Prometheus, the admin API (health, config, sessions, revoke, reload) with its guards (bearer
token, Host, Origin, never through the gateway), and rate limits / budgets over HTTP/1.1 and
HTTP/2."""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time

import pytest
import requests

import gwlib

S = gwlib.SECRETS
ADMIN_RE = re.compile(r"admin API on http://127\.0\.0\.1:(\d+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Admin:
    """The admin API of one gateway, over loopback TCP with python requests."""

    def __init__(self, gw):
        line = gw.wait_stderr(r"admin API on http://", timeout=5)
        assert line, gw.stderr_text()
        self.gw = gw
        self.port = int(ADMIN_RE.search(line).group(1))
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = gw.cli("admin-token").stdout.strip()
        assert self.token.startswith("cladm_"), self.token
        self.http = requests.Session()
        self.http.trust_env = False  # never through a proxy from the environment

    def auth(self, **extra):
        return {"Authorization": f"Bearer {self.token}", **extra}

    def get(self, path, headers=None, auth=True):
        h = self.auth() if auth else {}
        h.update(headers or {})
        r = self.http.get(self.base + path, headers=h, timeout=10)
        self.gw.record("admin GET " + path, r.text)
        return r

    def post(self, path, body=None, data=None, headers=None):
        h = self.auth()
        h.update(headers or {})
        r = self.http.post(self.base + path, headers=h, timeout=10,
                           json=body if data is None else None, data=data)
        self.gw.record("admin POST " + path, r.text)
        return r

    def metric(self, name, **labels):
        """The sum of the samples of `name` whose labels include `labels`."""
        text = self.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


ADMIN_TOML = '\n[admin]\nlisten = "127.0.0.1:0"\n'


@pytest.fixture
def agw(make_gateway):
    gw = make_gateway(extra=ADMIN_TOML)
    return gw, Admin(gw)


def get(gw, tok, host="api.example.com", path="/v1/ops"):
    return gw.get(host, path, [("Authorization", f"Bearer {tok}")])


# ---------------------------------------------------------------------------------- metrics


def test_metrics_count_requests_decisions_and_handshakes(agw):
    gw, admin = agw
    tok = gw.mint(hosts="api.example.com")
    before = admin.metric("cloakroom_requests_total", service="api", decision="allow", status="200")
    denied_before = admin.metric("cloakroom_requests_total", service="api", error="token_invalid")
    for _ in range(3):
        assert get(gw, tok).status == 200
    assert get(gw, tok + "x").status == 401
    text = admin.get("/metrics").text
    assert admin.metric("cloakroom_requests_total", service="api", decision="allow",
                        status="200") == before + 3
    assert admin.metric("cloakroom_requests_total", service="api",
                        error="token_invalid") == denied_before + 1
    assert admin.metric("cloakroom_tls_handshakes_total", side="agent", result="ok") >= 4
    assert admin.metric("cloakroom_request_duration_seconds_count", service="api") >= 4
    assert admin.metric("cloakroom_leaf_cache_lookups_total", result="hit") >= 1
    assert admin.metric("cloakroom_verify_cache_lookups_total", result="hit") >= 1
    assert "# TYPE cloakroom_request_duration_seconds histogram" in text
    # No token id, no token, no secret, no path in the exposition.
    tid = gw.token_id(tok)
    for needle in (tid, tok, S["bearer"], "/v1/ops"):
        assert needle not in text, needle


def test_real_prometheus_scrapes_and_queries_a_counter_that_moved(agw, tmp_path):
    gw, admin = agw
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus missing: run scripts/setup-e2e"
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin.token)
    os.chmod(token_file, 0o600)
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cloakroom
    scrape_interval: 1s
    authorization:
      credentials_file: {token_file}
    static_configs:
      - targets: ["127.0.0.1:{admin.port}"]
""")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([prometheus, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        api = f"http://127.0.0.1:{port}/api/v1/query"

        def value(q):
            """The query's single value; None when there is none or Prometheus cannot answer yet
            (while it starts, its API answers 503 with no JSON)."""
            try:
                r = requests.get(api, params={"query": q}, timeout=5,
                                 proxies={"http": None, "https": None})
                result = r.json()["data"]["result"]
            except (requests.RequestException, ValueError, KeyError):
                return None
            return float(result[0]["value"][1]) if result else None

        def poll(q, done, seconds):
            """Queries until done(value) holds; returns the last value seen. A scrape slower than
            the interval (a busy machine) fails, and Prometheus then marks the target's series
            stale: a fresh query may briefly return nothing, so the check is on the value seen,
            not on one more query."""
            deadline = time.monotonic() + seconds
            while True:
                seen = value(q)
                if done(seen) or time.monotonic() > deadline:
                    return seen
                time.sleep(0.5)

        # Prometheus scrapes the admin listener with the bearer token: up == 1.
        up = poll('up{job="cloakroom"}', lambda v: v == 1, 90)
        assert up == 1, (tmp_path / "prometheus.log").read_text()[-3000:]
        labels = {"service": "api", "decision": "allow"}
        before = admin.metric("cloakroom_requests_total", **labels)
        tok = gw.mint(hosts="api.example.com")
        for _ in range(5):
            assert get(gw, tok).status == 200
        # The gateway's own exposition is the truth Prometheus must converge to.
        moved = admin.metric("cloakroom_requests_total", **labels)
        assert moved == before + 5
        # The largest sample of each series over the last minutes (range selectors skip stale
        # markers): a failed scrape cannot hide the value a good one stored. The counter never
        # goes down here (one gateway process), so this is its value at the last good scrape.
        query = ('sum(max_over_time(cloakroom_requests_total'
                 '{service="api",decision="allow"}[10m]))')
        seen = poll(query, lambda v: v is not None and v >= moved, 60)
        assert seen == moved, (seen, moved, (tmp_path / "prometheus.log").read_text()[-3000:])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


# ---------------------------------------------------------------------------------- admin API


def test_health_config_and_sessions(agw):
    gw, admin = agw
    assert admin.get("/healthz", auth=False).json() == {"status": "ok"}
    assert admin.get("/readyz", auth=False).json() == {"status": "ready"}
    config = admin.get("/api/v1/config")
    assert config.status_code == 200
    summary = config.json()
    names = [s["name"] for s in summary["services"]]
    assert "api" in names and "keys" in names
    assert summary["listeners"]["proxy"].startswith("127.0.0.1:")
    for secret in S.values():
        assert secret not in config.text
    assert "file:" not in config.text  # no secret references either

    tok = gw.mint(hosts="api.example.com")
    tid = gw.token_id(tok)
    # A kept-alive tunnel that carried the token: a live session.
    t = gw.tunnel("api.example.com:443")
    try:
        t.start_tls("api.example.com", gw.ca_path)
        r = t.request(gwlib.http_request("GET", "/v1/live", "api.example.com",
                                         [("Authorization", f"Bearer {tok}")], b""))
        assert r.status == 200
        # The request's usage is counted when its exchange finishes, just after the response's
        # last byte went out: the client can ask before that, so wait for it (bounded).
        deadline = time.monotonic() + 5
        while True:
            sessions = admin.get("/api/v1/sessions").json()
            mine = [e for e in sessions["tokens"] if e["token_id"] == tid]
            if (mine and "service" in mine[0]) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert mine, sessions
        assert mine[0]["service"] == "api", sessions
        assert mine[0]["requests"] >= 1
        assert mine[0]["live"].get("http") == 1, mine
        assert mine[0]["last_seen"].endswith("Z")
        assert tok not in json.dumps(sessions)
    finally:
        t.close()


def test_revoke_through_the_api_refuses_the_token_and_is_audited(agw):
    gw, admin = agw
    tok = gw.mint(hosts="api.example.com")
    assert get(gw, tok).status == 200
    r = admin.post("/api/v1/revoke", {"token": tok, "reason": "leaked in a log"})
    assert r.status_code == 200, r.text
    assert r.json()["token_id"] == gw.token_id(tok)
    resp = get(gw, tok)
    assert resp.status == 401
    assert gwlib.error_body_ok(resp)["error"] == "token_revoked"
    assert any(rec["kind"] == "revocation" and "leaked in a log" in rec["reason"]
               for rec in gw.audit())
    assert admin.metric("cloakroom_revocations_applied_total") >= 1
    # by id, and bad requests
    other = gw.mint(hosts="api.example.com")
    assert admin.post("/api/v1/revoke", {"token_id": gw.token_id(other)}).status_code == 200
    assert get(gw, other).status == 401
    assert admin.post("/api/v1/revoke", {"token_id": "not hex!"}).status_code == 400
    assert admin.post("/api/v1/revoke", {}).status_code == 400


def test_reload_through_the_api_reports_success_and_failure(agw):
    gw, admin = agw
    ok = admin.post("/api/v1/reload")
    assert ok.status_code == 200 and ok.json()["reloaded"] is True, ok.text
    tok = gw.mint(hosts="api.example.com")  # `mint` reads the config too: before breaking it
    good = gw.config.read_text()
    gw.config.write_text(good + "\n[gateway]\nlisten = 12\n")  # broken (and a duplicate table)
    try:
        bad = admin.post("/api/v1/reload")
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"] == "reload_failed"
        assert admin.metric("cloakroom_reloads_total", result="failed") >= 1
        assert admin.metric("cloakroom_reloads_total", result="ok") >= 1
        assert get(gw, tok).status == 200  # still serving the last good configuration
    finally:
        gw.config.write_text(good)


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer ", "Basic Y2xhZG06eA==", "cladm_x"])
def test_missing_or_wrong_admin_token_is_401(agw, header):
    gw, admin = agw
    for path in ("/metrics", "/api/v1/config", "/api/v1/sessions"):
        h = {} if header is None else {"Authorization": header}
        r = admin.http.get(admin.base + path, headers=h, timeout=10)
        assert r.status_code == 401, (path, r.status_code)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = admin.http.post(admin.base + "/api/v1/revoke", json={"before": "2000-01-01T00:00:00Z"},
                        headers={} if header is None else {"Authorization": header}, timeout=10)
    assert r.status_code == 401
    # the right token with a wrong one appended is wrong too
    r = admin.http.get(admin.base + "/metrics", headers={"Authorization": f"Bearer {admin.token}x"})
    assert r.status_code == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1",
                                  "127.0.0.1:1", "localhost.evil.example:{port}", "127.0.0.2:{port}"])
def test_dns_rebinding_a_foreign_host_is_refused(agw, host):
    gw, admin = agw
    r = admin.http.get(admin.base + "/metrics",
                       headers=admin.auth(Host=host.format(port=admin.port)), timeout=10)
    assert r.status_code == 421, r.text
    assert "evil" not in r.text
    # curl with the same Host, and with a name resolving to loopback (rebinding)
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
                        "--resolve", f"rebind.example:{admin.port}:127.0.0.1",
                        "-H", f"Authorization: Bearer {admin.token}",
                        f"http://rebind.example:{admin.port}/api/v1/config"],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout == "421", p


def test_the_listeners_own_names_are_accepted(agw):
    gw, admin = agw
    for host in (f"127.0.0.1:{admin.port}", f"localhost:{admin.port}", f"LOCALHOST:{admin.port}"):
        r = admin.http.get(admin.base + "/api/v1/config", headers=admin.auth(Host=host))
        assert r.status_code == 200, host


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1",
                                    "http://localhost"])
def test_cross_origin_requests_are_refused_and_never_get_cors(agw, origin):
    gw, admin = agw
    for method in ("GET", "POST"):
        r = admin.http.request(method, admin.base + "/api/v1/revoke" if method == "POST"
                               else admin.base + "/api/v1/config",
                               headers=admin.auth(Origin=origin), json={"before": "2000-01-01"},
                               timeout=10)
        assert r.status_code == 403, (method, r.status_code, r.text)
        assert not any(k.lower().startswith("access-control-") for k in r.headers)
        assert "set-cookie" not in {k.lower() for k in r.headers}
    # a preflight gets nothing that would allow the real request
    r = admin.http.options(admin.base + "/api/v1/revoke",
                           headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    # a same-origin request (the listener's own origin) is fine, with no CORS either
    r = admin.get("/api/v1/config", headers={"Origin": admin.base, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    r = admin.get("/api/v1/config", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403


@pytest.mark.parametrize("body", [b"{", b"not json", b"[1,2]", b"\xff\xfe", b'"string"'])
def test_malformed_json_is_400(agw, body):
    gw, admin = agw
    r = admin.post("/api/v1/revoke", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_json"


def test_wrong_methods_and_unknown_paths(agw):
    gw, admin = agw
    assert admin.get("/api/v1/revoke").status_code == 405
    assert admin.post("/api/v1/config").status_code == 405
    assert admin.get("/api/v1/nothing").status_code == 404


def test_unix_socket_is_0600_and_serves_the_api(make_gateway, tmp_path):
    sock = tmp_path / "a.sock"
    gw = make_gateway(extra=f'\n[admin]\nsocket = "{sock}"\n')
    assert gw.wait_stderr(r"admin API on unix socket", timeout=5), gw.stderr_text()
    mode = os.stat(sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, oct(mode)
    token = gw.cli("admin-token").stdout.strip()
    token_path = gw.cli("admin-token", "--path").stdout.strip()
    assert stat.S_IMODE(os.stat(token_path).st_mode) == 0o600
    def curl(*args):
        return subprocess.run(["curl", "-sS", "--unix-socket", str(sock), *args],
                              capture_output=True, text=True, timeout=30)
    p = curl("-H", f"Authorization: Bearer {token}", "http://localhost/metrics")
    assert "cloakroom_requests_total" in p.stdout or "# TYPE" in p.stdout, p
    p = curl("-o", "/dev/null", "-w", "%{http_code}", "http://localhost/metrics")
    assert p.stdout == "401"
    p = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example",
             "-H", f"Authorization: Bearer {token}", "http://localhost/metrics")
    assert p.stdout == "421"
    gw.stop()
    assert not sock.exists()


def test_the_admin_listener_is_never_reachable_through_the_gateway(make_gateway):
    """CONNECT, absolute-form, a service (reverse and intercepted) and a transparent-style dial
    that name the admin address are all refused by the gateway itself."""
    admin_port = free_port()

    def config(tmp):
        base = gwlib.build_config(tmp, *_pki_nginx_py(make_gateway), reverse_listen="127.0.0.1:0",
                                  allow_hosts=["127.0.0.1", "localhost"])
        return base + f"""
[admin]
listen = "127.0.0.1:{admin_port}"

[[service]]
name = "sneaky"
hosts = ["sneaky.example.com"]
connect_to = "127.0.0.1:{admin_port}"
allow_private = true
"""
    gw = make_gateway(config_text=config)
    admin = Admin(gw)
    assert admin.port == admin_port
    assert admin.get("/healthz").status_code == 200  # it is there

    # 1. CONNECT to the admin address
    t = gw.tunnel(f"127.0.0.1:{admin_port}")
    try:
        assert not t.ok and t.connect.status in (403, 502), t.connect
    finally:
        t.close()
    # 2. absolute-form http:// (HTTP_PROXY)
    for host in (f"127.0.0.1:{admin_port}", f"localhost:{admin_port}"):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall(f"GET http://{host}/metrics HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {admin.token}\r\nConnection: close\r\n\r\n".encode())
            resp = gwlib.read_response(s.makefile("rb"))
        assert resp.status == 403, resp
        assert b"cloakroom_" not in resp.body
    # 3. a service whose upstream is the admin address, over the reverse listener: the gateway
    #    refuses to dial it (not the admin API refusing a Host)
    r = requests.get(f"http://127.0.0.1:{gw.reverse_port}/sneaky/metrics",
                     headers={"Authorization": f"Bearer {admin.token}"}, timeout=10,
                     proxies={"http": None, "https": None})
    assert r.status_code == 403, r.text
    assert r.headers["X-Cloakroom-Error"] == "address_forbidden"
    assert "admin listener" in r.json()["reason"]
    # 4. the same service through CONNECT interception (curl, HTTP/1.1 and h2)
    for version in ("--http1.1", "--http2"):
        p = gw.curl(version, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    "https://sneaky.example.com/metrics", check=False)
        assert p.stdout.decode() == "403", p
    # 5. a request that says it was relayed is refused by the admin API itself
    r = admin.get("/metrics", headers={"Via": "1.1 cloakroom"})
    assert r.status_code == 403
    r = admin.get("/metrics", headers={"X-Forwarded-For": "10.0.0.1"})
    assert r.status_code == 403


def _pki_nginx_py(factory):
    return factory.pki, factory.nginx, factory.pyup


# ---------------------------------------------------------------------------------- limits


def limited_api_rules(extra):
    return extra + '\n[[service.deny]]\nmethods = ["DELETE"]\n'


def assert_429(resp, error="rate_limited"):
    assert resp.status == 429, resp
    body = gwlib.error_body_ok(resp)
    assert body["error"] == error, body
    return body


def test_token_rate_limit_http1_gives_429_with_retry_after_and_is_audited(make_gateway):
    gw = make_gateway(api_rules=limited_api_rules('token_rate = "3/min"\n'), extra=ADMIN_TOML)
    admin = Admin(gw)
    hits_before = admin.metric("cloakroom_limits_hit_total", service="api", scope="token",
                               limit="rate")
    tok = gw.mint(hosts="api.example.com")
    for _ in range(3):
        assert get(gw, tok).status == 200
    resp = get(gw, tok)
    body = assert_429(resp)
    assert int(resp.headers["retry-after"]) >= 1
    assert "3/min per token" in body["reason"]
    assert gw.token_id(tok) not in body["reason"]
    # attenuating the same token gives no fresh allowance: same root nonce
    child = gw.cli("attenuate", tok, "--methods", "GET").stdout.strip()
    assert_429(get(gw, child))
    # another token has its own bucket
    assert get(gw, gw.mint(hosts="api.example.com")).status == 200
    recs = [r for r in gw.audit() if r["status"] == 429]
    assert recs and "rate limit" in recs[-1]["reason"] and recs[-1]["decision"] == "deny"
    assert admin.metric("cloakroom_limits_hit_total", service="api", scope="token",
                        limit="rate") >= hits_before + 2
    assert admin.metric("cloakroom_requests_total", service="api", status="429",
                        error="rate_limited") >= 2


def test_token_rate_limit_over_http2(make_gateway):
    gw = make_gateway(api_rules=limited_api_rules('token_rate = "2/min"\n'))
    tok = gw.mint(hosts="api.example.com")
    codes = []
    for _ in range(3):
        p = gw.curl("--http2", "-s", "--suppress-connect-headers", "-D", "-", "-o", "/dev/null",
                    "-w", "%{http_version}",
                    "https://api.example.com/v1/h2", "-H", f"Authorization: Bearer {tok}")
        out = p.stdout.decode()
        assert out.endswith("2"), out
        codes.append(out)
    assert codes[0].startswith("HTTP/2 200") and codes[1].startswith("HTTP/2 200")
    assert codes[2].startswith("HTTP/2 429"), codes[2]
    assert "retry-after:" in codes[2].lower()
    assert "x-cloakroom-error: rate_limited" in codes[2].lower()


def test_service_rate_limit_applies_to_every_token_and_to_requests_without_one(make_gateway):
    gw = make_gateway(api_rules=limited_api_rules('rate = "2/min"\n'))
    a, b = gw.mint(hosts="api.example.com"), gw.mint(hosts="api.example.com")
    assert get(gw, a).status == 200
    assert gw.get("api.example.com", "/v1/none").status == 200  # passthrough counts too
    assert_429(get(gw, b))


def test_token_budget_is_spent_for_good(make_gateway):
    gw = make_gateway(api_rules=limited_api_rules("token_budget = 2\n"))
    tok = gw.mint(hosts="api.example.com")
    assert get(gw, tok).status == 200
    assert get(gw, tok).status == 200
    resp = get(gw, tok)
    body = assert_429(resp, "budget_exhausted")
    assert "retry-after" not in resp.headers
    assert "budget of 2" in body["reason"]


def test_limits_caveat_budget_holds_on_every_front_end_and_for_attenuations(make_gateway):
    """A token's own Limits caveat (`mint --budget`): the gateway has no limit configured, yet
    the token's budget holds across CONNECT (h1 and h2), absolute-form http:// and the reverse
    listener, and for every token attenuated from it (same id)."""
    gw = make_gateway(reverse_listen="127.0.0.1:0", extra=ADMIN_TOML)
    admin = Admin(gw)
    assert gw.wait_stderr(r"reverse base URL", timeout=5) and gw.reverse_port
    tok = gw.cli("mint", "--hosts", "api.example.com", "--valid-for", "1h",
                 "--budget", "4").stdout.strip()
    info = json.loads(gw.cli("inspect", tok).stdout)
    limits = [c for c in info["caveats"] if c["name"] == "Limits"]
    assert limits and limits[0]["body"] == {"budget": 4}, info["caveats"]
    hits_before = admin.metric("cloakroom_limits_hit_total", service="api", scope="token",
                               limit="budget")
    child = gw.cli("attenuate", tok, "--methods", "GET").stdout.strip()
    auth = ["-H", f"Authorization: Bearer {child}"]
    # 1: CONNECT + HTTP/1.1; 2: CONNECT + h2; 3: reverse base URL; 4: the parent itself
    assert get(gw, child).status == 200
    p = gw.curl("--http2", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                "https://api.example.com/v1/ops", *auth)
    assert p.stdout.decode() == "200 2", p
    r = requests.get(f"http://127.0.0.1:{gw.reverse_port}/api/v1/ops",
                     headers={"Authorization": f"Bearer {child}"}, timeout=10,
                     proxies={"http": None, "https": None})
    assert r.status_code == 200, r.text
    assert get(gw, tok).status == 200
    # The family's budget is spent, whichever token and front end asks next.
    body = assert_429(get(gw, tok), "budget_exhausted")
    assert "budget of 4 of the token (its Limits caveat)" in body["reason"], body
    assert gw.token_id(tok) not in body["reason"]
    p = gw.curl("--http2", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                "https://api.example.com/v1/ops", *auth)
    assert p.stdout.decode() == "429", p
    r = requests.get(f"http://127.0.0.1:{gw.reverse_port}/api/v1/ops",
                     headers={"Authorization": f"Bearer {child}"}, timeout=10,
                     proxies={"http": None, "https": None})
    assert r.status_code == 429 and r.json()["error"] == "budget_exhausted", r.text
    # A fresh token is not limited, and a token without the caveat knows no limit at all.
    fresh = gw.mint(hosts="api.example.com")
    for _ in range(6):
        assert get(gw, fresh).status == 200
    assert admin.metric("cloakroom_limits_hit_total", service="api", scope="token",
                        limit="budget") >= hits_before + 3
    recs = [r for r in gw.audit() if r["status"] == 429]
    assert len(recs) >= 3 and all(r["decision"] == "deny" for r in recs)


def test_limits_caveat_rate_is_tightened_by_attenuation_not_loosened(make_gateway):
    gw = make_gateway()
    tok = gw.cli("mint", "--hosts", "api.example.com", "--valid-for", "1h",
                 "--rate", "3/min").stdout.strip()
    # The attenuated token adds a tighter rate: 1/min for itself, 3/min still for the family.
    tight = gw.cli("attenuate", tok, "--rate", "1/min").stdout.strip()
    assert get(gw, tight).status == 200
    body = assert_429(get(gw, tight))
    assert "rate limit of 1/min of the token" in body["reason"], body
    # Loosening is impossible: a child claiming 100/min still carries its parent's 3/min.
    loose = gw.cli("attenuate", tok, "--rate", "100/min").stdout.strip()
    assert get(gw, loose).status == 200
    assert get(gw, tok).status == 200
    body = assert_429(get(gw, loose))
    assert "rate limit of 3/min of the token" in body["reason"], body


@pytest.mark.parametrize("flags, message", [
    (["--rate", "10"], "--rate"), (["--rate", "10/day"], "--rate"),
    (["--budget", "0"], "--budget"), (["--concurrency", "-1"], "--concurrency")])
def test_limits_caveat_flags_are_checked(make_gateway, flags, message):
    gw = make_gateway()
    p = gw.cli("mint", "--hosts", "api.example.com", *flags, check=False)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert "acm_" not in p.stdout


def test_global_limits_and_config_summary_show_them(make_gateway):
    gw = make_gateway(extra=ADMIN_TOML + '\n[limits]\nrate = "2/min"\n')
    admin = Admin(gw)
    assert admin.get("/api/v1/config").json()["limits"] == {"rate": "2/min"}
    tok = gw.mint(hosts="api.example.com,keys.example.com")
    assert get(gw, tok).status == 200
    assert get(gw, tok, host="keys.example.com").status == 200
    resp = get(gw, tok, host="keys.example.com")
    assert "for the gateway" in assert_429(resp)["reason"]
    assert admin.metric("cloakroom_limits_hit_total", scope="global", limit="rate") >= 1


def test_bad_limit_settings_are_config_errors(make_gateway, tmp_path):
    for bad in ('token_rate = "10"\n', 'token_rate = "10/day"\n', "token_budget = 0\n",
                'concurrency = "4"\n'):
        d = tmp_path / f"c{abs(hash(bad))}"
        d.mkdir()
        text = gwlib.build_config(d, *_pki_nginx_py(make_gateway), api_rules=bad)
        (d / "c.toml").write_text(text)
        p = subprocess.run([gwlib.BIN, "--config", str(d / "c.toml"), "config", "check"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0, (bad, p.stdout, p.stderr)
    for bad in ('listen = "0.0.0.0:9464"\n', 'listen = "10.0.0.1:9464"\n'):
        d = tmp_path / f"a{abs(hash(bad))}"
        d.mkdir()
        text = gwlib.build_config(d, *_pki_nginx_py(make_gateway), extra="\n[admin]\n" + bad)
        (d / "c.toml").write_text(text)
        p = subprocess.run([gwlib.BIN, "--config", str(d / "c.toml"), "config", "check"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "loopback" in p.stderr + p.stdout, p
