"""The decision table over every front end: CONNECT (intercepted), absolute-form and the reverse base-URL
listener. Each request, allowed or refused at any stage (a rejected head included), writes exactly one
audit record, with the status, decision, kind and error the agent saw (docs/architecture.md, "Audit")."""
import socket
import threading
import time
import uuid

import pytest

import gwlib
import h2lib


@pytest.fixture(scope="module")
def fgw(_session_factory):
    g = _session_factory(reverse_listen="127.0.0.1:0")
    assert g.wait_stderr(r"reverse base URL", timeout=5), g.stderr_text()
    return g


def _records_after(gw, before, timeout=5):
    """The audit records written after the first `before`, once the log has stopped growing."""
    deadline = time.monotonic() + timeout
    records = gw.audit()
    while len(records) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
        records = gw.audit()
    time.sleep(0.15)  # a second record, if any, would be written by now
    return gw.audit()[before:]


def _one_exchange(gw, send):
    """Runs `send()` (returns a Response) and returns it with the one audit record it wrote."""
    before = len(gw.audit())
    resp = send()
    new = _records_after(gw, before)
    assert len(new) == 1, f"expected exactly one audit record, got {len(new)}: {new}"
    return resp, new[0]


def _plain(gw, port, data, method="GET"):
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(data)
        return gwlib.read_response(s.makefile("rb"), method)


def via_connect(gw, method, path, headers=(), host="api.example.com", host_header=None):
    def send():
        req = gwlib.http_request(method, path, host_header or host, [*headers, ("Connection", "close")])
        return gw.raw(host, req, method=method)
    return send


def via_h2(gw, method, path, headers=(), host="api.example.com", host_header=None):
    """The CONNECT front end with an agent that negotiated HTTP/2: one stream, :authority as Host."""
    def send():
        with h2lib.Client(gw, host) as c:
            return c.get(path, headers, method, authority=host_header or host)
    return send


def via_absolute(gw, method, path, headers=(), host="plain.example.com", host_header=None):
    def send():
        req = gwlib.http_request(method, f"http://{host}{path}", host_header or host,
                                 [*headers, ("Connection", "close")])
        return _plain(gw, gw.port, req, method)
    return send


def via_reverse(gw, method, path, headers=()):
    def send():
        req = gwlib.http_request(method, path, f"127.0.0.1:{gw.reverse_port}",
                                 [*headers, ("Connection", "close")])
        return _plain(gw, gw.reverse_port, req, method)
    return send


def _check(resp, record, status, decision, error=None, kind="http"):
    assert resp.status == status, resp
    assert record["status"] == status, record
    assert record["decision"] == decision, record
    assert record["kind"] == kind, record
    if error is not None:
        assert gwlib.error_body_ok(resp)["error"] == error, resp
        assert resp.headers["x-cloakroom-error"], resp
    for key in ("time", "token_id", "service", "host", "method", "path", "reason", "bytes_in",
                "bytes_out", "duration_us", "client"):
        assert key in record, (key, record)


def _marker():
    return "/m" + uuid.uuid4().hex[:10]


# ------------------------------------------------------------------------------ CONNECT front end

@pytest.mark.parametrize("via", [via_connect, via_h2], ids=["http1", "h2"])
def test_connect_allowed_passthrough_and_refusals(fgw, via):
    gw = fgw
    good = gw.mint(methods="GET")
    m = _marker()
    cases = [
        (via(gw, "GET", "/v1" + m, [("Authorization", f"Bearer {good}")]), 200, "allow", None),
        (via(gw, "GET", "/v1" + m), 200, "passthrough", None),
        (via(gw, "DELETE", "/v1" + m), 403, "deny", "rule_denied"),
        (via(gw, "POST", "/v1" + m, [("Authorization", f"Bearer {good}")]), 403, "deny",
         "token_forbidden"),
        (via(gw, "GET", "/v1" + m, [("Authorization", f"Bearer {good}x")]), 401, "deny",
         "token_invalid"),
        (via(gw, "GET", "/v1" + m, host_header="keys.example.com"), 421, "deny",
         "misdirected_request"),
        (via(gw, "GET", "/v1/%2F" + m), 400, "deny", "bad_request"),
        (via(gw, "GET", m, [("Authorization", f"Bearer {gw.mint(hosts='plain.example.com')}")],
                     host="plain.example.com"), 403, "deny", "no_credential"),
    ]
    for send, status, decision, error in cases:
        resp, record = _one_exchange(gw, send)
        _check(resp, record, status, decision, error)
    resp, record = _one_exchange(gw, via(gw, "GET", "/v1" + m, [("Authorization", f"Bearer {good}")]))
    assert record["token_id"] and record["service"] == "api" and record["path"] == "/v1" + m
    assert record["host"] == "api.example.com" and record["method"] == "GET"


def test_connect_level_refusal_is_one_tunnel_record(fgw):
    gw = fgw

    def send():
        t = gw.tunnel("other.example.com:443")
        t.close()
        return t.connect
    resp, record = _one_exchange(gw, send)
    _check(resp, record, 403, "deny", "host_not_configured", kind="tunnel")
    assert record["method"] == "CONNECT" and record["host"].startswith("other.example.com")


def test_connect_rejected_head_inside_the_tunnel_is_audited(fgw):
    gw = fgw

    def send():
        t = gw.tunnel("api.example.com:443")
        try:
            t.start_tls("api.example.com", gw.ca_path)
            return t.request(b"GET /v1/x HTTP/1.1\r\nHost: api.example.com\r\nX-A: 1\r\n folded\r\n\r\n")
        finally:
            t.close()
    resp, record = _one_exchange(gw, send)
    _check(resp, record, 400, "deny", "bad_request")


# ------------------------------------------------------------------------- absolute-form front end

def test_absolute_form_allowed_and_refusals(fgw):
    gw = fgw
    m = _marker()
    cases = [
        (via_absolute(gw, "GET", m), 200, "passthrough", None),
        (via_absolute(gw, "POST", m), 403, "deny", "rule_denied"),
        (via_absolute(gw, "GET", m, [("Authorization", f"Bearer {gw.mint(hosts='plain.example.com')}")]),
         403, "deny", "no_credential"),
        (via_absolute(gw, "GET", m, [("Authorization", "Bearer acm_garbage")]), 401, "deny",
         "token_invalid"),
        (via_absolute(gw, "GET", m, host_header="api.example.com"), 421, "deny", "misdirected_request"),
        (via_absolute(gw, "GET", "/a/%2F" + m), 400, "deny", "bad_request"),
        (via_absolute(gw, "GET", m, host="unknown.example.com"), 403, "deny", "host_not_configured"),
        (via_absolute(gw, "GET", m, host="api.example.com"), 403, "deny", "https_required"),
    ]
    for send, status, decision, error in cases:
        resp, record = _one_exchange(gw, send)
        _check(resp, record, status, decision, error)


def test_absolute_form_non_http_targets_and_rejected_heads_are_audited(fgw):
    gw = fgw
    for data, status in [
        (b"GET https://api.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 400),
        (b"GET /relative HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 400),
        (b"GET http://plain.example.com/ HTTP/1.1\r\nHost: plain.example.com\r\n"
         b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET http://plain.example.com/ HTTP/1.1\r\nHost: plain.example.com\r\n"
         b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ]:
        resp, record = _one_exchange(gw, lambda: _plain(gw, gw.port, data))
        _check(resp, record, status, "deny")


# --------------------------------------------------------------------------- reverse front end

def test_reverse_allowed_and_refusals(fgw):
    gw = fgw
    good = gw.mint(methods="GET")
    m = _marker()
    cases = [
        (via_reverse(gw, "GET", "/api/v1" + m, [("Authorization", f"Bearer {good}")]), 200, "allow", None),
        (via_reverse(gw, "GET", "/api/v1" + m), 200, "passthrough", None),
        (via_reverse(gw, "DELETE", "/api/v1" + m), 403, "deny", "rule_denied"),
        (via_reverse(gw, "POST", "/api/v1" + m, [("Authorization", f"Bearer {good}")]), 403, "deny",
         "token_forbidden"),
        (via_reverse(gw, "GET", "/api/v1" + m, [("Authorization", "Bearer acm_garbage")]), 401, "deny",
         "token_invalid"),
        (via_reverse(gw, "GET", "/nosuch" + m), 404, "deny", None),
        (via_reverse(gw, "CONNECT", "api.example.com:443"), 405, "deny", "method_not_allowed"),
    ]
    for send, status, decision, error in cases:
        resp, record = _one_exchange(gw, send)
        _check(resp, record, status, decision, error)


def test_reverse_rejected_head_is_audited(fgw):
    gw = fgw
    data = b"GET /api/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    resp, record = _one_exchange(gw, lambda: _plain(gw, gw.reverse_port, data))
    _check(resp, record, 400, "deny", "bad_request")


# ------------------------------------------------------------------- slow secret helpers

def test_a_slow_exec_secret_does_not_stall_other_requests_on_the_worker(make_gateway, tmp_path):
    """One worker thread; a service whose secret comes from a helper that takes 3 s. While a request
    to it waits for the helper, requests to another service on the same worker are answered at once."""
    helper = tmp_path / "slow-helper"
    helper.write_text(f"#!/bin/sh\nsleep 3\nprintf '%s' {gwlib.SECRETS['bearer']}\n")
    helper.chmod(0o755)
    gw = make_gateway(serve_args=["--threads", "1"], extra=f"""
[[service]]
name = "slow"
hosts = ["slow.example.com"]
credential = {{ type = "bearer", secret = "exec:{helper}" }}
connect_to = {gwlib.toml_str(f"127.0.0.1:{make_gateway.nginx.port}")}
upstream_ca = {gwlib.toml_str(make_gateway.pki.ca)}
allow_private = true
""")
    slow_token = gw.mint(hosts="slow.example.com", methods="GET")
    fast_token = gw.mint(methods="GET")
    slow_result = {}

    def slow():
        started = time.monotonic()
        slow_result["resp"] = gw.get("slow.example.com", "/v1/slow", [("Authorization", f"Bearer {slow_token}")])
        slow_result["took"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)  # the slow request is now waiting for its helper
    fast_times = []
    for i in range(3):
        started = time.monotonic()
        resp = gw.get("api.example.com", f"/v1/fast{i}", [("Authorization", f"Bearer {fast_token}")])
        fast_times.append(time.monotonic() - started)
        assert resp.status == 200, resp
    thread.join(30)
    assert slow_result["resp"].status == 200, slow_result["resp"]
    assert slow_result["took"] >= 2.5, slow_result
    assert max(fast_times) < 1.5, f"requests to another service waited for the helper: {fast_times}"
    assert gwlib.SECRETS["bearer"] not in slow_result["resp"].text



# ------------------------------------------------------------- malformed request bodies

BAD_BODIES = [
    b"zz\r\nhello\r\n0\r\n\r\n",          # chunk size that is not hex
    b"5\nhello\r\n0\r\n\r\n",             # bare LF after the chunk size
    b"5\r\nhelloXX0\r\n\r\n",             # chunk data longer than its size
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=["bad-size", "bare-lf", "overlong-chunk"])
def test_a_malformed_chunked_body_is_answered_400_on_every_front_end(fgw, body):
    gw = fgw
    head = "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"

    def connect():
        t = gw.tunnel("api.example.com:443")
        try:
            t.start_tls("api.example.com", gw.ca_path)
            return t.request(f"POST /v1/upload HTTP/1.1\r\nHost: api.example.com\r\n{head}".encode() + body)
        finally:
            t.close()

    def absolute():
        return _plain(gw, gw.port, f"GET http://plain.example.com/x HTTP/1.1\r\nHost: plain.example.com\r\n"
                      f"{head}".encode() + body)

    def reverse():
        return _plain(gw, gw.reverse_port, f"POST /api/v1/upload HTTP/1.1\r\nHost: x\r\n{head}".encode() + body)

    for send in (connect, absolute, reverse):
        resp, record = _one_exchange(gw, send)
        _check(resp, record, 400, "deny", "bad_request")
        assert "malformed request body" in resp.json()["reason"], resp


# ------------------------------------------------- redaction of every response of a service

@pytest.mark.parametrize("who", ["token", "passthrough"])
def test_every_part_of_an_echoing_response_is_redacted(fgw, who):
    """The upstream echoes the credential into the reason phrase, a header name, a header value and
    the body. With a token (the credential injected) and without one (passthrough: the agent sent the
    real key itself, as an earlier request may have), none of it reaches the agent."""
    gw = fgw
    secret = gwlib.SECRETS["bearer"]
    auth = f"Bearer {gw.mint(hosts='stream.example.com')}" if who == "token" else f"Bearer {secret}"
    req = gwlib.http_request("GET", "/echo-head", "stream.example.com",
                             [("Authorization", auth), ("Connection", "close")])
    resp, record = _one_exchange(gw, lambda: gw.raw("stream.example.com", req))
    assert resp.status == 200, resp
    assert record["decision"] == ("allow" if who == "token" else "passthrough"), record
    raw = resp.raw_head.decode("latin-1") + resp.text
    assert secret not in raw, raw
    assert secret not in resp.reason and all(secret not in k for k, _ in resp.header_list)
    assert "*" * 8 in resp.reason, resp.reason  # starred, not dropped
