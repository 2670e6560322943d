"""Every decision of the gateway and its status code (issue 3, "Decisions"), token locations, strict mode, audit."""
import json
import time
import uuid

import pytest

import gwlib
from gwlib import basic, stars

S = gwlib.SECRETS


def marker():
    return "m" + uuid.uuid4().hex[:12]


def echo_of(resp):
    assert resp.status == 200, resp
    return resp.json()


# ---------------------------------------------------------------- CONNECT-level decisions

def test_unknown_host_is_refused_on_connect_before_tls(gw):
    t = gw.tunnel("other.example.com:443")
    try:
        assert t.connect.status == 403, t.connect
        body = gwlib.error_body_ok(t.connect)
        assert "other.example.com" in json.dumps(body)
    finally:
        t.close()


def test_unknown_host_absolute_form_is_refused(gw):
    import socket
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"GET http://other.example.com/x HTTP/1.1\r\nHost: other.example.com\r\nConnection: close\r\n\r\n")
        r = gwlib.read_response(s.makefile("rb"))
    assert r.status == 403, r
    gwlib.error_body_ok(r)


def test_allowed_loopback_host_is_still_address_checked(gw, nginx):
    """[allow] hosts = ["127.0.0.1"]: allowed by name, but [allow] has no allow_private, so the address
    guard refuses the loopback upstream (a plain tunnel is tested in a namespace, test_gateway_invariants)."""
    t = gw.tunnel(f"127.0.0.1:{nginx.port}")
    try:
        assert t.connect.status == 403, t.connect
        assert "address_forbidden" in t.connect.text + t.connect.headers.get("x-cloakroom-error", "")
    finally:
        t.close()


def test_credential_host_is_intercepted_with_cloakroom_leaf(gw):
    t = gw.tunnel("api.example.com:443")
    try:
        assert t.ok, t.connect
        t.start_tls("api.example.com", gw.ca_path)  # verification against Cloakroom's CA succeeds
        assert gwlib.issuer_cn(t.cert) == gwlib.pem_subject_cn(gw.ca_path)
        assert ("DNS", "api.example.com") in t.cert["subjectAltName"]
    finally:
        t.close()


def test_ca_path_command(gw):
    p = gw.cli("ca", "path")
    assert p.stdout.strip() == str(gw.ca_path)


# ---------------------------------------------------------------- token locations

def test_bearer_token_is_swapped(gw):
    tok = gw.mint(methods="GET")
    echo = echo_of(gw.get("api.example.com", "/v1/bearer", [("Authorization", f"Bearer {tok}")]))
    assert echo["auth_check"] == "bearer-ok"
    assert gwlib.is_redacted_bearer(echo["authorization"])


@pytest.mark.parametrize("how", ["password", "user"])
def test_basic_token_on_bearer_service(gw, how):
    tok = gw.mint(methods="GET")
    cred = basic("x", tok) if how == "password" else basic(tok, "")
    echo = echo_of(gw.get("api.example.com", "/v1/basic", [("Authorization", cred)]))
    assert echo["auth_check"] == "bearer-ok", echo


def test_basic_service_token_as_password(gw):
    tok = gw.mint(hosts="git.example.com", methods="GET")
    echo = echo_of(gw.get("git.example.com", "/echo/basic", [("Authorization", basic("agent", tok))]))
    assert echo["auth_check"] == "basic-ok", echo
    assert tok not in json.dumps(echo)


def test_header_credential(gw):
    tok = gw.mint(hosts="keys.example.com", methods="GET")
    echo = echo_of(gw.get("keys.example.com", "/v1/hdr", [("x-api-key", tok)]))
    assert echo["xkey_check"] == "ok" and echo["x_api_key"] == stars(S["x_api_key"])
    assert echo["auth_check"] == "none"


def test_query_credential(gw):
    tok = gw.mint(hosts="query.example.com", methods="GET")
    r = gw.get("query.example.com", f"/maps/api?key={tok}&q=paris")
    echo = echo_of(r)
    assert echo["query_check"] == "ok", echo
    assert tok not in r.text
    # the secret is in the upstream's request_uri, redacted on the way back
    assert S["query"] not in r.text and "q=paris" in echo["request_uri"]


def test_proxy_authorization_on_connect(gw):
    tok = gw.mint(methods="GET")
    for value in (f"Bearer {tok}", basic("agent", tok)):
        t = gw.tunnel("api.example.com:443", [("Proxy-Authorization", value)])
        try:
            assert t.ok, t.connect
            t.start_tls("api.example.com", gw.ca_path)
            for i in range(2):  # every request on the connection is authorized by the CONNECT token
                echo = echo_of(t.request(gwlib.http_request("GET", f"/v1/pa{i}", "api.example.com")))
                assert echo["auth_check"] == "bearer-ok" and echo["proxy_authorization"] == ""
        finally:
            t.close()


def test_invalid_proxy_authorization_on_connect_is_401(gw):
    t = gw.tunnel("api.example.com:443", [("Proxy-Authorization", "Bearer acm_garbage")])
    try:
        if t.ok:  # refusing at CONNECT or on the first request are both fine; passing is not
            t.start_tls("api.example.com", gw.ca_path)
            r = t.request(gwlib.http_request("GET", "/v1/x", "api.example.com", [("Connection", "close")]))
        else:
            r = t.connect
        assert r.status in (401, 407), r
    finally:
        t.close()


# ---------------------------------------------------------------- statuses

def _assert_cloakroom_error(r, status, upstream_reached=False):
    assert r.status == status, r
    body = gwlib.error_body_ok(r)
    assert S["bearer"] not in r.text
    return body


def test_garbage_token_401(gw):
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/x", [("Authorization", "Bearer acm_AAAAgarbage")]), 401)


def test_tampered_token_401(gw):
    tok = gw.mint(methods="GET")
    bad = tok[:-3] + ("AAA" if not tok.endswith("AAA") else "BBB")
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/x", [("Authorization", f"Bearer {bad}")]), 401)


def test_wrong_signing_key_401(gw):
    tok = gw.mint(methods="GET", key_b64=gwlib.OTHER_KEY_B64)
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/x", [("Authorization", f"Bearer {tok}")]), 401)


def test_expired_and_not_yet_valid_401(gw):
    now = int(time.time())
    expired = gw.mint(methods="GET", valid_for="1s")  # mint: not_after = now + valid_for
    time.sleep(2.2)
    body = _assert_cloakroom_error(
        gw.get("api.example.com", "/v1/x", [("Authorization", f"Bearer {expired}")]), 401)
    assert "expire" in json.dumps(body).lower() or "valid" in json.dumps(body).lower(), body
    future = gw.mint(methods="GET", not_before=now + 3600, valid_for="1h")
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/x", [("Authorization", f"Bearer {future}")]), 401)


def test_caveat_method_403(gw):
    tok = gw.mint(methods="GET")
    body = _assert_cloakroom_error(
        gw.get("api.example.com", "/v1/x", [("Authorization", f"Bearer {tok}")], method="POST", body=b"{}"), 403)
    assert "POST" in json.dumps(body), body  # says enough for an agent to understand


def test_caveat_host_403(gw):
    tok = gw.mint(hosts="keys.example.com", methods="GET")
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/x", [("Authorization", f"Bearer {tok}")]), 403)


def test_caveat_path_403_and_attenuation(gw):
    tok = gw.mint(methods="GET", paths="/v1/customers/**")
    assert echo_of(gw.get("api.example.com", "/v1/customers/c1", [("Authorization", f"Bearer {tok}")]))["auth_check"] == "bearer-ok"
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/invoices", [("Authorization", f"Bearer {tok}")]), 403)
    narrow = gw.cli("attenuate", tok, "--paths", "/v1/customers/c1").stdout.strip()
    assert echo_of(gw.get("api.example.com", "/v1/customers/c1", [("Authorization", f"Bearer {narrow}")]))["auth_check"] == "bearer-ok"
    _assert_cloakroom_error(gw.get("api.example.com", "/v1/customers/c2", [("Authorization", f"Bearer {narrow}")]), 403)


def test_service_rules_apply_with_and_without_token(gw):
    tok = gw.mint(methods="GET,DELETE")
    for headers in ([], [("Authorization", f"Bearer {tok}")]):
        _assert_cloakroom_error(gw.get("api.example.com", "/v1/customers/c1", headers, method="DELETE"), 403)
        _assert_cloakroom_error(gw.get("api.example.com", "/v1/transfers/t1", headers), 403)
    # plain.example.com allows GET/HEAD only, token or not
    _assert_cloakroom_error(gw.get("plain.example.com", "/x", method="POST", body=b"x"), 403)


def test_no_credential_configured_403_with_token_passthrough_without(gw):
    tok = gw.mint(hosts="plain.example.com", methods="GET")
    _assert_cloakroom_error(gw.get("plain.example.com", "/x", [("Authorization", f"Bearer {tok}")]), 403)
    echo = echo_of(gw.get("plain.example.com", "/x", [("Authorization", "Bearer their-own")]))
    assert echo["authorization"] == "Bearer their-own"


def test_passthrough_without_token(gw):
    echo = echo_of(gw.get("api.example.com", "/v1/pass"))
    assert echo["auth_check"] == "none" and echo["authorization"] == ""
    echo = echo_of(gw.get("api.example.com", "/v1/pass", [("Authorization", "Bearer sk_user_own_key")]))
    assert echo["auth_check"] == "other" and echo["authorization"] == "Bearer sk_user_own_key"


def test_strict_mode_config(make_gateway):
    g = make_gateway(strict=True)
    _assert_cloakroom_error(g.get("api.example.com", "/v1/strict"), 401)
    _assert_cloakroom_error(g.get("api.example.com", "/v1/strict", [("Authorization", "Bearer sk_user_own")]), 401)
    tok = g.mint(methods="GET")
    assert echo_of(g.get("api.example.com", "/v1/strict", [("Authorization", f"Bearer {tok}")]))["auth_check"] == "bearer-ok"


def test_strict_mode_env(make_gateway):
    g = make_gateway(env_extra={"STRICT_MODE": "true"})
    _assert_cloakroom_error(g.get("api.example.com", "/v1/strict"), 401)


def test_keepalive_second_request_without_token_is_not_injected(gw):
    """Injection is per request: a token on request 1 does not authorize request 2 on the same connection."""
    tok = gw.mint(methods="GET")
    t = gw.tunnel("api.example.com:443")
    try:
        t.start_tls("api.example.com", gw.ca_path)
        first = gwlib.http_request("GET", "/v1/k1", "api.example.com", [("Authorization", f"Bearer {tok}")])
        second = gwlib.http_request("GET", "/v1/k2", "api.example.com")
        t.send(first + second)  # pipelined
        e1, e2 = echo_of(t.response()), echo_of(t.response())
        assert e1["auth_check"] == "bearer-ok" and e1["uri"] == "/v1/k1"
        assert e2["auth_check"] == "none" and e2["uri"] == "/v1/k2", e2
    finally:
        t.close()


def test_audit_records(gw):
    tok = gw.mint(methods="GET")
    tid = gw.token_id(tok)
    m = marker()
    echo_of(gw.get("api.example.com", f"/v1/audit/{m}?secret=no", [("Authorization", f"Bearer {tok}")]))
    gw.get("api.example.com", f"/v1/audit/{m}/denied", [("Authorization", f"Bearer {tok}")], method="POST", body=b"x")
    deadline = time.monotonic() + 5
    while True:
        recs = [r for r in gw.audit() if m in json.dumps(r)]
        if len(recs) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(recs) == 2, recs
    ok, denied = recs
    for rec in recs:
        for key in ("time", "token_id", "service", "host", "method", "path", "decision", "reason", "status"):
            assert key in rec, (key, rec)
        assert any(k.startswith("bytes") for k in rec), rec
        assert any(k.startswith("duration") for k in rec), rec
        assert tok not in json.dumps(rec)
    assert ok["service"] == "api" and ok["host"] == "api.example.com" and ok["method"] == "GET"
    assert ok["path"] == f"/v1/audit/{m}" and ok["status"] == 200
    assert ok["token_id"] == tid
    assert denied["status"] == 403 and denied["method"] == "POST"
    assert denied["decision"] != ok["decision"]
