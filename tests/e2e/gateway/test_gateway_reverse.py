"""The reverse base-URL listener: http://127.0.0.1:PORT/<service>/<path> with curl and requests."""
import json
import socket
import subprocess
import time

import pytest
import requests

import gwlib

S = gwlib.SECRETS


@pytest.fixture
def rgw(make_gateway):
    gw = make_gateway(reverse_listen="127.0.0.1:0")
    assert gw.wait_stderr(r"reverse base URL", timeout=5), gw.stderr_text()
    assert gw.reverse_port, gw.stderr_text()
    gw.base = f"http://127.0.0.1:{gw.reverse_port}"
    return gw


def curl(*args):
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code}", *args],
                       capture_output=True, text=True, timeout=30)
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body, p.stderr


def test_base_url_injects_the_credential_and_forwards_the_rest_of_the_path(rgw):
    token = rgw.mint(hosts="api.example.com")
    code, body, err = curl(f"{rgw.base}/api/v1/customers?limit=3&x=%2F",
                           "-H", f"Authorization: Bearer {token}")
    assert code == 200, (body, err)
    echo = json.loads(body)
    assert echo["auth_check"] == "bearer-ok"              # the real key arrived upstream
    assert echo["request_uri"] == "/v1/customers?limit=3&x=%2F"  # prefix gone, query verbatim
    assert echo["host"] == "api.example.com"
    assert S["bearer"] not in body and token not in body  # echoed key redacted, token stripped
    # The audit line is written once the response is complete, which can be after curl is done.
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in rgw.audit() if r.get("path") == "/v1/customers"]
        if records or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert records and records[-1]["service"] == "api" and records[-1]["decision"] == "allow"


def test_python_requests_with_a_base_url(rgw):
    token = rgw.mint(hosts="api.example.com", methods="GET")
    session = requests.Session()
    session.trust_env = False
    r = session.get(f"{rgw.base}/api/v1/charges", headers={"Authorization": f"Bearer {token}"},
                    timeout=10)
    assert r.status_code == 200 and r.json()["auth_check"] == "bearer-ok"
    # Same keep-alive connection, a method the token does not allow.
    r = session.post(f"{rgw.base}/api/v1/charges", headers={"Authorization": f"Bearer {token}"},
                     data=b"x", timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "token_forbidden"


def test_service_rules_apply_on_the_reverse_listener_too(rgw):
    token = rgw.mint(hosts="api.example.com")
    code, body, _ = curl("-X", "DELETE", f"{rgw.base}/api/v1/customers/1",
                         "-H", f"Authorization: Bearer {token}")
    assert code == 403 and json.loads(body)["error"] == "rule_denied"
    code, body, _ = curl(f"{rgw.base}/api/v1/transfers/9", "-H", f"Authorization: Bearer {token}")
    assert code == 403 and json.loads(body)["error"] == "rule_denied"


@pytest.mark.parametrize("path", ["/api/../keys/v1/x", "/api/%2e%2e/keys/v1/x", "/api/./../keys/v1/x"])
def test_dot_segments_cannot_reach_another_service_with_this_token(rgw, path):
    """The service is taken from the NORMALIZED path: /api/../keys is service "keys", and a token
    for api.example.com is refused there (never keys' credential on api's token)."""
    token = rgw.mint(hosts="api.example.com")
    code, body, _ = curl("--path-as-is", f"{rgw.base}{path}", "-H", f"Authorization: Bearer {token}")
    assert code == 403, body
    assert json.loads(body)["error"] == "token_forbidden"
    assert "keys.example.com" in body


def test_encoded_slash_and_unknown_service_are_refused(rgw):
    code, body, _ = curl("--path-as-is", f"{rgw.base}/api%2Fv1/x")
    assert code in (400, 404), body
    code, body, _ = curl(f"{rgw.base}/nosuch/v1/x")
    assert code == 404 and json.loads(body)["error"] == "service_not_found"
    code, body, _ = curl(f"{rgw.base}/")
    assert code == 404


def test_connect_on_the_reverse_listener_is_refused(rgw):
    with socket.create_connection(("127.0.0.1", rgw.reverse_port), timeout=10) as s:
        s.sendall(b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n")
        r = gwlib.read_response(s.makefile("rb"))
    assert r.status == 405, r


def test_reverse_listener_must_be_loopback(rgw):
    bad = rgw.config.read_text().replace('reverse_listen = "127.0.0.1:0"', 'reverse_listen = "0.0.0.0:0"')
    path = rgw.tmp / "bad.toml"
    path.write_text(bad)
    p = subprocess.run([gwlib.BIN, "--config", str(path), "config", "check"], capture_output=True,
                       text=True, env=rgw.env, timeout=30)
    assert p.returncode == 1 and "must be a loopback address" in p.stderr, p.stderr
