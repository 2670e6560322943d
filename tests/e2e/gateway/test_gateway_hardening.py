"""Hardening: an upstream's malformed head never quotes the injected credential back, a token reaches
only the service (host and port) it names, and path parameters cannot walk a request past a rule."""
import json
import textwrap

import pytest

import gwlib

S = gwlib.SECRETS
# Any 12 consecutive bytes of the secret are a leak (a reason used to quote up to 64 bytes of a line,
# so a long secret leaked in part).
SECRET_PIECES = [S["bearer"][i:i + 12] for i in range(0, len(S["bearer"]) - 11)]


def leaked_piece(text):
    return next((p for p in SECRET_PIECES if p in text), None)


# ---------------------------------------------------------------- 1. a malformed response quotes nothing

MALFORMED_KINDS = ["no-colon", "bare-secret", "content-length", "content-length-list", "transfer-encoding",
                   "connection", "name", "name-space", "value-control", "fold", "status", "version",
                   "reason-control", "bare-lf"]


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_response_echoing_the_credential_is_502_without_it(gw, pyup, kind):
    """The py upstream writes the Authorization it received (the injected `Bearer <secret>`) into a
    malformed line of its response head. The gateway answers 502 naming the line and the problem; the
    secret is in neither the agent's response, the audit record nor the gateway's stderr."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    n_audit = len(gw.audit())
    err_start = len(gw.stderr_text())
    r = gw.get("stream.example.com", f"/malformed?kind={kind}", [("Authorization", f"Bearer {tok}")])
    gw.record(f"malformed {kind}", r.raw_head + r.body)
    assert r.status == 502, r
    # The upstream really received (and echoed) the credential: the test would be empty otherwise.
    rec = [e for e in pyup.records() if e["requestline"].startswith(f"GET /malformed?kind={kind}")]
    assert rec and ("Authorization", "Bearer " + S["bearer"]) in [tuple(h) for h in rec[-1]["headers"]]
    body = gwlib.error_body_ok(r)
    assert body["error"] == "upstream_bad_response", body
    reason = body["reason"]
    assert "invalid response from upstream" in reason, reason
    agent_sees = (r.raw_head + r.body).decode("latin-1")
    assert leaked_piece(agent_sees) is None, f"secret piece {leaked_piece(agent_sees)!r} in {agent_sees!r}"
    audit = gw.wait_audit(n_audit + 1)
    new_audit = json.dumps(audit[n_audit:])
    assert any(a.get("status") == 502 for a in audit[n_audit:]), new_audit
    assert leaked_piece(new_audit) is None, new_audit
    assert leaked_piece(gw.audit_path.read_text()) is None
    stderr = gw.stderr_text()[err_start:]
    assert leaked_piece(stderr) is None, stderr


def test_malformed_response_reason_names_the_line_and_field(gw):
    """What the agent gets instead of the bytes: which line, which known field, what is wrong."""
    tok = gw.mint(hosts="stream.example.com", methods="GET")
    expected = {
        "no-colon": "line 2: header line has no ':'",
        "content-length": "line 2: Content-Length is not a decimal number",
        "transfer-encoding": "line 2: transfer coding is not supported",
        "status": "the status line does not have a status code",
    }
    for kind, part in expected.items():
        r = gw.get("stream.example.com", f"/malformed?kind={kind}", [("Authorization", f"Bearer {tok}")])
        assert r.status == 502, r
        assert part in gwlib.error_body_ok(r)["reason"], (kind, r)


# ---------------------------------------------------------------- 2. a token reaches the service it names, port included

PORT_SECRET_A = "sk_port_default_service_a1b2c3"
PORT_SECRET_B = "sk_port_8443_admin_service_d4e5f6"


def _two_port_config(tmp, pki, pyup):
    secrets = tmp / "secrets"
    for name, value in {"a.key": PORT_SECRET_A, "b.key": PORT_SECRET_B}.items():
        (secrets / name).write_text(value + "\n")
        (secrets / name).chmod(0o600)
    py = f"127.0.0.1:{pyup.port}"
    return textwrap.dedent(f"""
        [gateway]
        listen = "127.0.0.1:0"
        audit_log = {gwlib.toml_str(tmp / "audit.jsonl")}
        data_dir = {gwlib.toml_str(tmp / "data")}

        [token]
        key_dir = {gwlib.toml_str(tmp / "keys")}

        [secrets]
        dir = {gwlib.toml_str(secrets)}

        [[service]]
        name = "ports-default"
        hosts = ["ports.example.com"]
        credential = {{ type = "bearer", secret = "file:a.key" }}
        connect_to = {gwlib.toml_str(py)}
        upstream_ca = {gwlib.toml_str(pki.ca)}
        allow_private = true

        [[service]]
        name = "ports-admin"
        hosts = ["ports.example.com:8443"]
        credential = {{ type = "bearer", secret = "file:b.key" }}
        connect_to = {gwlib.toml_str(py)}
        upstream_ca = {gwlib.toml_str(pki.ca)}
        allow_private = true
        """)


@pytest.fixture
def ports_gw(make_gateway, pki, pyup):
    return make_gateway(config_text=lambda tmp: _two_port_config(tmp, pki, pyup))


def _injected(pyup, marker):
    rec = [e for e in pyup.records() if marker in e["requestline"]]
    if not rec:
        return None
    return dict((k.lower(), v) for k, v in rec[-1]["headers"]).get("authorization")


def _get_port(g, port, path, tok):
    req = gwlib.http_request("GET", path, "ports.example.com",
                             [("Authorization", f"Bearer {tok}"), ("Connection", "close")])
    return g.raw("ports.example.com", req, port=port)


def test_verify_and_gateway_agree_on_ports(ports_gw):
    """`cloakroom verify` routes --host through the configuration as the gateway does."""
    bare = ports_gw.mint(hosts="ports.example.com", methods="GET")
    port = ports_gw.mint(hosts="ports.example.com:8443", methods="GET")
    cases = [
        (bare, "ports.example.com", 0),
        (bare, "ports.example.com:443", 0),
        (bare, "ports.example.com:9000", 0),
        (bare, "ports.example.com:8443", 1),
        (port, "ports.example.com:8443", 0),
        (port, "ports.example.com", 1),
        (port, "ports.example.com:443", 1),
    ]
    for tok, host, code in cases:
        p = ports_gw.cli("verify", tok, "--host", host, "--method", "GET", "--path", "/x", check=False)
        assert p.returncode == code, (host, p.stdout, p.stderr)
        if host == "ports.example.com:8443" and code == 1:
            assert "port 8443 is a service of its own" in p.stderr, p.stderr


def test_token_reaches_only_the_service_of_its_host_and_port(ports_gw, pyup):
    bare = ports_gw.mint(hosts="ports.example.com", methods="GET")
    port = ports_gw.mint(hosts="ports.example.com:8443", methods="GET")
    # The bare-host token: the bare-keyed service on 443 (and any other port it owns), never 8443.
    r = _get_port(ports_gw, 443, "/record/ports-bare-443", bare)
    assert r.status == 200, r
    assert _injected(pyup, "ports-bare-443") == "Bearer " + PORT_SECRET_A
    r = _get_port(ports_gw, 8443, "/record/ports-bare-8443", bare)
    assert r.status == 403, r
    assert gwlib.error_body_ok(r)["error"] == "token_forbidden"
    assert _injected(pyup, "ports-bare-8443") is None, "the request reached the port-keyed service"
    # The port token: that port's service, nothing else.
    r = _get_port(ports_gw, 8443, "/record/ports-port-8443", port)
    assert r.status == 200, r
    assert _injected(pyup, "ports-port-8443") == "Bearer " + PORT_SECRET_B
    r = _get_port(ports_gw, 443, "/record/ports-port-443", port)
    assert r.status == 403, r
    assert _injected(pyup, "ports-port-443") is None


# ---------------------------------------------------------------- 7. path parameters never pass a rule

@pytest.mark.parametrize("raw", ["/v1/transfers;x=1/t1", "/v1/transfers;/t1", "/v1/x/..;/transfers/t1"])
def test_path_parameters_cannot_step_around_a_deny_rule(gw, nginx, raw):
    """The standard api service denies /v1/transfers/**. A server that drops ';...' before routing would
    serve these as /v1/transfers/t1: the gateway refuses them (400) before anything goes upstream."""
    marker = "semi" + str(abs(hash(raw)))
    r = gw.get("api.example.com", raw + "?m=" + marker)
    assert r.status == 400, r
    body = gwlib.error_body_ok(r)
    assert "path parameter" in body["reason"], body
    assert marker not in nginx.access_log()


def test_path_parameters_fail_an_allow_list_closed(make_gateway, nginx):
    rules = '[[service.allow]]\npaths = ["/v1/public/**"]\n'
    g = make_gateway(api_rules=rules)
    tok = g.mint(hosts="api.example.com", methods="GET")
    for raw in ("/v1/public/..;/admin", "/v1/public/%2e%2e;/admin", "/v1/public/.;/../admin"):
        marker = "allow" + str(abs(hash(raw)))
        r = g.get("api.example.com", f"{raw}?m={marker}", [("Authorization", f"Bearer {tok}")])
        assert r.status == 400, (raw, r)
        assert "path parameter" in gwlib.error_body_ok(r)["reason"]
        assert marker not in nginx.access_log(), raw
    # Encoded, ';' is data for every server: the request passes the allow list and is forwarded as is.
    r = g.get("api.example.com", "/v1/public/a%3Bb?m=encodedsemi", [("Authorization", f"Bearer {tok}")])
    assert r.status != 400 and r.status != 403, r
    assert "/v1/public/a;b" in nginx.access_log()  # nginx logs the decoded path
