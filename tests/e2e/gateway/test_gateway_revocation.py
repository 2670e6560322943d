"""Revocation end to end (docs/tokens.md, "Revocation"): `cloakroom revoke` by token id, by token
string and by mint time; a running gateway refuses the token with 401 token_revoked within about
a second, without a restart; connections that already carried the token are closed (CONNECT
tunnels, the reverse listener, a kept-alive requests.Session); attenuated children die with their
parent; the revocation survives a restart; a broken revocation file never drops a revocation."""
import json
import os
import socket
import ssl
import stat
import time

import pytest
import requests

import gwlib

# How long a running gateway may take to enforce a new revocation (it checks every 200 ms).
APPLY_WITHIN = 1.5


@pytest.fixture
def rgw(make_gateway):
    gw = make_gateway(reverse_listen="127.0.0.1:0")
    assert gw.wait_stderr(r"reverse base URL", timeout=5), gw.stderr_text()
    return gw


def get(gw, tok, path="/v1/revocation"):
    return gw.get("api.example.com", path, [("Authorization", f"Bearer {tok}")])


def assert_revoked(resp, *words):
    assert resp.status == 401, resp
    body = gwlib.error_body_ok(resp)
    assert body["error"] == "token_revoked", body
    assert resp.headers["x-cloakroom-error"] == "token_revoked"
    for word in words:
        assert word in body["reason"], body
    return body


def revoke(gw, *args, stdin=None):
    p = gw.cli("revoke", *args, check=False) if stdin is None else None
    if stdin is not None:
        import subprocess
        p = subprocess.run([gwlib.BIN, "--config", str(gw.config), "revoke", *args], env=gw.env,
                           input=stdin, capture_output=True, text=True, timeout=30)
        gw.record("cloakroom revoke", p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr
    return time.monotonic()


def served(gw, tok, path):
    """Whether a request with `tok` is answered (not 401). A revocation that lands while the
    request is in flight ends its connection (the token's connections are closed): that is the
    revocation taking effect, not a failure."""
    try:
        return get(gw, tok, path).status != 401
    except (ConnectionError, ssl.SSLEOFError):
        return False


def wait_revoked(gw, tok, since, path="/v1/revocation"):
    """Polls until the token is refused; asserts that took at most APPLY_WITHIN seconds, and
    returns the 401 of a fresh request."""
    while served(gw, tok, path) and time.monotonic() - since <= APPLY_WITHIN + 2:
        time.sleep(0.05)
    elapsed = time.monotonic() - since
    resp = get(gw, tok, path)
    assert resp.status == 401, f"still {resp.status} {elapsed:.2f}s after the revocation"
    assert elapsed <= APPLY_WITHIN, f"the revocation took {elapsed:.2f}s to apply"
    return resp


def test_revoke_by_id_refuses_the_next_request_and_audits_it(make_gateway):
    gw = make_gateway()
    tok, other = gw.mint(), gw.mint()
    assert get(gw, tok).status == 200
    token_id = gw.token_id(tok)
    since = revoke(gw, token_id, "--reason", "leaked in CI logs")
    body = assert_revoked(wait_revoked(gw, tok, since), "leaked in CI logs")
    assert tok not in json.dumps(body)
    assert get(gw, other).status == 200, "another token of the same key is unaffected"
    # curl, a real client, gets the same answer.
    p = gw.curl("-H", f"Authorization: Bearer {tok}", "-w", "\n%{http_code}",
                "https://api.example.com/v1/curl")
    assert p.stdout.decode().rstrip().endswith("401") and b"token_revoked" in p.stdout
    records = gw.audit()
    refused = [r for r in records if r.get("token_id") == token_id and r["status"] == 401]
    assert refused and "revoked" in refused[-1]["reason"] and refused[-1]["decision"] == "deny"
    applied = [r for r in records if r["kind"] == "revocation"]
    assert len(applied) == 1 and applied[0]["token_id"] == token_id, applied
    assert "leaked in CI logs" in applied[0]["reason"]
    assert gw.wait_stderr(r"revocation applied", timeout=2)
    # The store: <data_dir>/revocations, owner-only.
    path = gw.data_dir / "revocations"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert token_id in path.read_text() and tok not in path.read_text()


def test_revoke_by_token_string_kills_attenuated_children(make_gateway):
    gw = make_gateway()
    parent = gw.mint(methods="GET,POST")
    child = gw.cli("attenuate", parent, "--methods", "GET").stdout.strip()
    assert child.startswith("acm_") and child != parent
    assert gw.token_id(child) == gw.token_id(parent)
    assert get(gw, child).status == 200
    since = revoke(gw, "-", "--reason", "rotated", stdin=parent + "\n")  # stdin: not in `ps`
    assert_revoked(wait_revoked(gw, child, since), "rotated")
    assert_revoked(get(gw, parent))
    # A grandchild made after the revocation, offline, is refused too.
    grandchild = gw.cli("attenuate", child, "--paths", "/v1/**").stdout.strip()
    assert_revoked(get(gw, grandchild))


def test_revoke_before_a_time_spares_newer_tokens(make_gateway):
    gw = make_gateway()
    old = gw.mint()
    assert get(gw, old).status == 200
    time.sleep(1.1)  # mint times are whole seconds
    cutoff = int(time.time())
    since = revoke(gw, "--before", str(cutoff), "--reason", "key leak")
    assert_revoked(wait_revoked(gw, old, since), "minted before", "key leak")
    new = gw.mint()
    assert get(gw, new).status == 200
    # `cloakroom verify` answers as the gateway does.
    args = ("--host", "api.example.com", "--method", "GET", "--path", "/v1/x")
    p = gw.cli("verify", old, *args, check=False)
    assert p.returncode == 1 and "denied (revoked)" in p.stderr and "key leak" in p.stderr
    assert gw.cli("verify", new, *args).stdout.startswith("allowed")
    listed = gw.cli("revoke", "--list").stdout
    assert "before " in listed and "key leak" in listed


def test_a_kept_alive_tunnel_is_closed_by_the_revocation(make_gateway):
    gw = make_gateway()
    tok, other = gw.mint(), gw.mint()
    with gw.tunnel("api.example.com:443") as t, gw.tunnel("api.example.com:443") as bystander:
        t.start_tls("api.example.com", gw.ca_path)
        bystander.start_tls("api.example.com", gw.ca_path)
        for i in range(2):  # two requests, one connection
            req = gwlib.http_request("GET", f"/v1/keep{i}", "api.example.com",
                                     [("Authorization", f"Bearer {tok}")])
            assert t.request(req).status == 200
        req = gwlib.http_request("GET", "/v1/other", "api.example.com",
                                 [("Authorization", f"Bearer {other}")])
        assert bystander.request(req).status == 200
        since = revoke(gw, gw.token_id(tok))
        assert t.closed_by_peer(timeout=APPLY_WITHIN + 1), "the revoked token's tunnel stayed open"
        assert time.monotonic() - since <= APPLY_WITHIN + 0.5
        assert bystander.request(req).status == 200, "another token's tunnel was closed"
    assert_revoked(get(gw, tok))


def test_a_requests_session_gets_401_after_the_revocation(make_gateway):
    gw = make_gateway()
    tok = gw.mint()
    proxies = {"https": gw.proxy_url}
    with requests.Session() as s:
        s.trust_env = False
        headers = {"Authorization": f"Bearer {tok}"}
        r = s.get("https://api.example.com/v1/session", headers=headers, proxies=proxies,
                  verify=str(gw.ca_path), timeout=20)
        assert r.status_code == 200
        revoke(gw, gw.token_id(tok))
        time.sleep(APPLY_WITHIN)
        r = s.get("https://api.example.com/v1/session", headers=headers, proxies=proxies,
                  verify=str(gw.ca_path), timeout=20)
        gw.record("requests", r.text)
        assert r.status_code == 401 and r.json()["error"] == "token_revoked"


def test_the_reverse_listener_connection_is_closed_and_refused(rgw):
    tok = rgw.mint()
    with socket.create_connection(("127.0.0.1", rgw.reverse_port), timeout=10) as s:
        f = s.makefile("rb")
        req = gwlib.http_request("GET", "/api/v1/rev", "127.0.0.1",
                                 [("Authorization", f"Bearer {tok}")])
        s.sendall(req)
        assert gwlib.read_response(f).status == 200
        since = revoke(rgw, gw_id := rgw.token_id(tok))
        s.settimeout(APPLY_WITHIN + 1)
        try:
            closed = f.read(1) == b""
        except (ConnectionError, socket.timeout) as e:
            closed = not isinstance(e, socket.timeout)
        assert closed, "the reverse-listener connection stayed open"
        assert time.monotonic() - since <= APPLY_WITHIN + 0.5
    with socket.create_connection(("127.0.0.1", rgw.reverse_port), timeout=10) as s:
        s.sendall(req)
        assert_revoked(gwlib.read_response(s.makefile("rb")))
    assert any(r.get("token_id") == gw_id and r["status"] == 401 for r in rgw.audit())


def test_revocations_survive_a_restart(make_gateway):
    gw = make_gateway()
    tok = gw.mint()
    revoke(gw, gw.token_id(tok), "--reason", "gone")
    gw.stop()
    gw.port = None
    gw.start()
    assert_revoked(get(gw, tok), "gone")


def test_a_broken_revocation_file_never_drops_a_revocation(make_gateway):
    gw = make_gateway()
    tok = gw.mint()
    since = revoke(gw, gw.token_id(tok))
    wait_revoked(gw, tok, since)
    path = gw.data_dir / "revocations"
    with open(path, "a") as f:
        f.write('{"revoked_at": "yesterday"}\n')
    assert gw.wait_stderr(r"revocations: keeping the previous list: .*line 2.*revoked_at",
                          timeout=3), gw.stderr_text()
    assert_revoked(get(gw, tok))
    # The CLI says the same, and a fresh gateway refuses to start without its revocations.
    p = gw.cli("revoke", "--list", check=False)
    assert p.returncode == 1 and "line 2" in p.stderr
    gw.stop()
    gw.port = None
    with pytest.raises(AssertionError, match="line 2"):
        gw.start(timeout=5)


@pytest.mark.parametrize("args, message", [
    ((), "give one of"),
    (("abc",), "not a token"),
    (("A" * 32,), "lower-case hex"),
    (("--before", "2999-01-01T00:00:00Z"), "in the future"),
    (("--before", "yesterday"), "time"),
    (("a" * 32, "--reason", "two\nlines"), "control characters"),
    (("a" * 32, "--list"), "give one of"),
])
def test_revoke_usage_errors_are_precise(make_gateway, args, message):
    gw = make_gateway()
    p = gw.cli("revoke", *args, check=False)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr, p.stderr
    assert not (gw.data_dir / "revocations").exists()
