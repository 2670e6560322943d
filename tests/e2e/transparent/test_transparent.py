"""The transparent listener (docs/transparent.md), adopted from a network namespace the test creates:
nftables in that namespace redirects every outgoing TCP connection to it, and a client that ignores
proxy variables (`curl --noproxy '*'`) still reaches a service with the real credential injected. The
name the client sends (TLS SNI, Host) must belong to the destination; anything else is closed with an
audited refusal. IPv4 and IPv6."""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess

import pytest

import gwlib
from tlib import run_sandbox, transparent_config

SANDBOX = ["transparent", "transparent6", "dns", "dns-tcp"]


@pytest.fixture(autouse=True)
def _tools():
    if not shutil.which("dig"):
        pytest.fail("dig missing: run scripts/setup-e2e")


def sandboxed(gw, script, listeners=SANDBOX):
    """Runs a shell script in a fresh sandbox namespace (redirect rules installed)."""
    r = run_sandbox(gw, {"listeners": listeners, "nft": True, "command": script})
    assert r["reply"] == {"ok": True}, r
    return r


def curl(gw, url, *args, token=None):
    auth = f"-H 'Authorization: Bearer {token}'" if token else ""
    return (f"curl -sS --max-time 15 --noproxy '*' --cacert {gw.ca_path} {auth} "
            + " ".join(args) + f" '{url}'")


def transparent_records(gw):
    return [a for a in gw.audit() if a.get("kind") == "transparent"]


def test_https_to_a_service_through_synthetic_dns(tgw):
    tok = tgw.mint(methods="GET")
    script = ("ip=$(dig +short @127.0.0.1 api.example.com A); echo \"$ip\" >&2; "
              + curl(tgw, "https://api.example.com/v1/transparent?q=1", "--resolve api.example.com:443:$ip",
                     token=tok))
    r = sandboxed(tgw, script)
    assert r["rc"] == 0, r["stderr"]
    assert r["stderr"].strip().startswith("198.18."), r["stderr"]
    echo = json.loads(r["stdout"])
    assert echo["auth_check"] == "bearer-ok", echo
    assert echo["request_uri"] == "/v1/transparent?q=1"
    assert echo["host"] == "api.example.com"
    assert tok not in r["stdout"]
    rec = [a for a in tgw.wait_audit(1) if a.get("path") == "/v1/transparent"][-1]
    assert rec["decision"] == "allow" and rec["host"] == "api.example.com"


def test_system_resolver_is_answered_inside_the_namespace(tgw):
    """No --resolve: curl asks the nameserver of /etc/resolv.conf, which nftables sends to the DNS
    listener; the answer is synthetic and the connection lands on the transparent listener."""
    tok = tgw.mint(methods="GET")
    r = sandboxed(tgw, curl(tgw, "https://api.example.com/v1/resolver", "-4", token=tok))
    assert r["rc"] == 0, r["stderr"]
    assert json.loads(r["stdout"])["auth_check"] == "bearer-ok"


def test_ipv6_synthetic_destination(tgw):
    tok = tgw.mint(methods="GET")
    script = ("ip=$(dig +short @127.0.0.1 api.example.com AAAA); echo \"$ip\" >&2; "
              + curl(tgw, "https://api.example.com/v1/six", "-6", "--resolve api.example.com:443:[$ip]",
                     token=tok))
    r = sandboxed(tgw, script)
    assert r["rc"] == 0, r["stderr"]
    assert r["stderr"].strip().startswith("fdc1:a4b:700d::"), r["stderr"]
    assert json.loads(r["stdout"])["auth_check"] == "bearer-ok"
    rec = [a for a in tgw.wait_audit(1) if a.get("path") == "/v1/six"][-1]
    assert rec["decision"] == "allow"
    assert rec["client"].startswith("[::1]:"), rec


def test_client_hello_without_sni_is_named_by_its_synthetic_address(tgw):
    """openssl s_client -noservername: the synthetic address alone says which host it is."""
    tok = tgw.mint(methods="GET")
    request = f"GET /v1/nosni HTTP/1.1\\r\\nHost: api.example.com\\r\\nAuthorization: Bearer {tok}\\r\\nConnection: close\\r\\n\\r\\n"
    script = ("ip=$(dig +short @127.0.0.1 api.example.com A); "
              f"printf '{request}' | openssl s_client -quiet -noservername -CAfile {tgw.ca_path} "
              "-verify_return_error -verify_hostname api.example.com -connect $ip:443 2>/dev/null")
    r = sandboxed(tgw, script)
    body = r["stdout"].partition("\r\n\r\n")[2]
    assert json.loads(body)["auth_check"] == "bearer-ok", r


def test_literal_address_destination_must_be_the_names_real_address(tgw):
    """curl https://localhost/: destination 127.0.0.1, SNI "localhost", which the host resolves to
    127.0.0.1: allowed. The same name to 127.0.0.2 is not its address: refused."""
    tok = tgw.mint(hosts="localhost", methods="GET")
    script = (curl(tgw, "https://localhost/v1/literal", "-4", token=tok) + "; echo; "
              + curl(tgw, "https://localhost/v1/wrong-address", "--resolve localhost:443:127.0.0.2",
                     token=tok) + "; echo rc=$?")
    r = sandboxed(tgw, script)
    first, _, rest = r["stdout"].partition("\n")
    assert json.loads(first)["auth_check"] == "bearer-ok"
    assert "rc=0" not in rest
    refusals = transparent_records(tgw)
    assert any("does not resolve to destination 127.0.0.2:443" in a["reason"] for a in refusals), refusals
    assert not any(a.get("path") == "/v1/wrong-address" for a in tgw.audit())


def test_mismatched_and_unknown_names_are_refused_and_audited(tgw):
    tok = tgw.mint(methods="GET")
    script = "; ".join([
        "keys=$(dig +short @127.0.0.1 keys.example.com A)",
        # SNI api.example.com sent to the synthetic address of keys.example.com.
        curl(tgw, "https://api.example.com/v1/mismatch", "--resolve api.example.com:443:$keys", token=tok),
        "echo rc1=$?",
        # An address of the synthetic range that was never given out.
        curl(tgw, "https://api.example.com/v1/unassigned", "--resolve api.example.com:443:198.19.9.9",
             token=tok),
        "echo rc2=$?",
        # A name the gateway knows nothing about, to a literal address.
        curl(tgw, "https://unknown.invalid/x", "--resolve unknown.invalid:443:127.0.0.1"),
        "echo rc3=$?",
        # No name at all: TLS to an IP literal carries no SNI.
        curl(tgw, "https://127.0.0.1/x", "-k"),
        "echo rc4=$?",
        # Not TLS, not HTTP.
        "/usr/bin/python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', 22), timeout=5); "
        "s.sendall(b'SSH-2.0-x'); print('rc5', s.recv(10))\"",
    ])
    r = sandboxed(tgw, script)
    for n in (1, 2, 3, 4):
        assert f"rc{n}=0" not in r["stdout"], r
    reasons = [a["reason"] for a in transparent_records(tgw)]
    assert any("name 'api.example.com' does not belong to destination 198.18." in x for x in reasons), reasons
    assert any("198.19.9.9 is a synthetic address Cloakroom's DNS did not give out" in x for x in reasons)
    # Refused by its route, without a lookup: resolving a name the agent chose would leak it to
    # the host's resolver (tests/e2e/sandbox/test_sandbox_dns_leak.py).
    assert any("host 'unknown.invalid:443' is not configured" in x for x in reasons), reasons
    assert not any("unknown.invalid' does not resolve" in x for x in reasons), reasons
    assert any("no host name (TLS server name or Host header) for destination 127.0.0.1" in x
               for x in reasons), reasons
    assert "rc5 b''" in r["stdout"], r
    assert any("neither a TLS ClientHello nor an HTTP request" in x for x in reasons), reasons
    for rec in transparent_records(tgw):
        assert rec["decision"] == "deny"
        assert tok not in json.dumps(rec)
    # Nothing reached the upstream for any of them.
    assert not any(a.get("path", "").startswith(("/v1/mismatch", "/v1/unassigned")) for a in tgw.audit())


def test_plain_http_goes_through_the_exchange_pipeline(tgw):
    """http:// to a service: routed by its Host like an absolute-form request. A service without a
    credential is forwarded over TLS; a credential service is refused over clear text."""
    tok = tgw.mint(methods="GET")
    script = "; ".join([
        "plain=$(dig +short @127.0.0.1 plain.example.com A)",
        "api=$(dig +short @127.0.0.1 api.example.com A)",
        curl(tgw, "http://plain.example.com/v1/plain-http", "--resolve plain.example.com:80:$plain"),
        'echo "C1=$(' + curl(tgw, "http://api.example.com/v1/clear", "--resolve api.example.com:80:$api",
                             "-o /dev/null", "-w '%{http_code}'", token=tok) + ')"',
        # Host names another service than the destination's.
        'echo "C2=$(' + curl(tgw, "http://plain.example.com/v1/host-mismatch",
                             "--resolve plain.example.com:80:$api", "-o /dev/null", "-w '%{http_code}'") + ')"',
    ])
    r = sandboxed(tgw, script)
    body, _, codes = r["stdout"].partition("C1=")
    echo = json.loads(body)
    assert echo["request_uri"] == "/v1/plain-http" and echo["host"] == "plain.example.com", echo
    assert codes.split() == ["403", "C2=421"], r
    recs = tgw.audit()
    assert any(a["host"] == "api.example.com" and a["decision"] == "deny" and "only reachable over HTTPS"
               in a["reason"] for a in recs), json.dumps(recs, indent=1)
    assert any("does not belong to destination" in a.get("reason", "") for a in recs)


def test_allowed_host_is_tunnelled_only_to_a_public_address(make_gateway):
    """An [allow] host is a blind tunnel, dialled like every other: "localhost" resolves to 127.0.0.1,
    which the address policy refuses whatever the sandbox's DNS said."""
    gw = make_gateway(config_text=lambda tmp: make_gateway.config(tmp, allow_hosts=["localhost"]))
    r = sandboxed(gw, curl(gw, "https://localhost/", "-4") + "; echo rc=$?")
    assert "rc=0" not in r["stdout"]
    recs = transparent_records(gw)
    assert recs and recs[-1]["host"] == "localhost" and recs[-1]["decision"] == "deny", recs
    assert recs[-1]["status"] == 403, recs


def test_standalone_transparent_listen(make_gateway, tmp_path):
    """`[gateway] transparent_listen` on `cloakroom serve` alone: a connection that was not redirected
    (no original destination other than the listener itself) is refused and audited."""
    gw = make_gateway(config_text=lambda tmp: transparent_config(make_gateway, tmp,
                                                                 transparent_listen=["127.0.0.1:0"]))
    line = gw.wait_stderr(r"listening on 127\.0\.0\.1:\d+ \(transparent\)")
    assert line, gw.stderr_text()
    m = re.search(r"127\.0\.0\.1:(\d+) \(transparent\)", line)
    with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=5) as s:
        s.settimeout(5)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass  # closed before our request was read: also a refusal
    recs = [a for a in gw.wait_audit(1) if a.get("kind") == "transparent"]
    assert recs and recs[-1]["decision"] == "deny", gw.audit()
    assert "not redirected" in recs[-1]["reason"]


@pytest.mark.parametrize("value, error", [
    ('["10.0.0.1:15001"]', 'transparent_listen "10.0.0.1:15001" must be a loopback address'),
    ('["nonsense"]', "transparent_listen"),
    ('"127.0.0.1:15001"', "transparent_listen"),
])
def test_transparent_listen_errors(cloakroom, tmp_path, value, error):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[gateway]\ntransparent_listen = {value}\n")
    proc = cloakroom.run("--config", str(cfg), "config", "check", check=1)
    assert error in proc.stderr + proc.stdout
    assert "c.toml" in proc.stderr + proc.stdout


def test_standalone_transparent_listen_serves_redirected_clients(make_gateway, tmp_path):
    """Everything in one network namespace: the user's own nftables rule sends port 443 to
    `transparent_listen`, and `curl --noproxy '*' https://localhost/` reaches the upstream with the
    real credential injected."""
    d = tmp_path / "standalone"
    d.mkdir()
    gwlib.write_secrets(d / "secrets")
    template = d / "template.toml"
    template.write_text(f"""[gateway]
listen = "127.0.0.1:0"
transparent_listen = ["127.0.0.1:15001"]
audit_log = {gwlib.toml_str(d / "audit.jsonl")}
data_dir = {gwlib.toml_str(d / "data")}
[token]
key_dir = {gwlib.toml_str(d / "keys")}
[secrets]
dir = {gwlib.toml_str(d / "secrets")}
[[service]]
name = "local"
hosts = ["localhost"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = "{{upstream}}"
upstream_ca = {gwlib.toml_str(make_gateway.pki.ca)}
allow_private = true
""")
    here = pathlib.Path(__file__).resolve().parent
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(d),
           "MACAROON_SIGNING_KEY": gwlib.CANARY_KEY_B64,
           "PYTHONPATH": str(here.parent / "gateway")}
    p = subprocess.run(["unshare", "-Urn", "/usr/bin/python3", str(here / "standalone.py"), gwlib.BIN,
                        str(template), str(make_gateway.pki.root)], capture_output=True, text=True,
                       timeout=90, env=env)
    make_gateway.leaks.add("standalone", p.stdout + p.stderr)
    assert p.returncode == 0, p.stderr + p.stdout
    report = json.loads(p.stdout.strip().splitlines()[-1])
    assert report["listening"] == ["127.0.0.1:15001"], report
    assert report["curl_rc"] == 0, report
    assert report["upstream_paths"] == ["GET /v1/standalone HTTP/1.1"], report
    assert report["injected"] and not report["token_seen_upstream"], report
    audit = [json.loads(line) for line in (d / "audit.jsonl").read_text().splitlines()]
    assert any(a.get("path") == "/v1/standalone" and a["decision"] == "allow" for a in audit), audit
