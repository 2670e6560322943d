"""The netns sandbox's network, with a stand-in gateway on the hand-over socket: the listening
sockets are handed over, every TCP connection (any address, IPv4 and IPv6, loopback too) lands
on the transparent listener with its original destination, DNS goes to the gateway's resolver,
other UDP is dropped, and the hand-over connection ends with the sandbox."""
import json
import sys

import pytest

from fake_gateway import FakeGateway

INSIDE = r'''
import json, socket
out = {}
def tcp(host, port, family=socket.AF_INET):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((host, port))
        data = s.recv(200).decode().strip()
        s.close()
        return data
    except OSError as e:
        return f"error {e.errno}"
out["proxy"] = tcp("127.0.0.1", 3128)
out["v4"] = tcp("93.184.216.34", 443)
out["v4_gateway_port"] = tcp("93.184.216.34", 3128)
out["loopback_other"] = tcp("127.0.0.1", 22)
out["v6"] = tcp("2001:db8::1", 80, socket.AF_INET6)
out["v6_loopback"] = tcp("::1", 8080, socket.AF_INET6)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
for name, target in (("dns_any", ("8.8.8.8", 53)), ("dns_local", ("127.0.0.1", 53))):
    try:
        u.sendto(b"query-" + name.encode(), target)
        out[name] = u.recvfrom(200)[0].decode()
    except OSError as e:
        out[name] = f"error {e.errno}"
for name, target in (("quic", ("93.184.216.34", 443)), ("udp_local", ("127.0.0.1", 9999))):
    try:
        u.sendto(b"x", target)
        out[name] = "sent"
    except OSError as e:
        out[name] = f"error {e.errno}"
out["resolv"] = open("/etc/resolv.conf").read()
import os
out["proxy_env"] = os.environ.get("HTTPS_PROXY")
out["ca"] = os.environ.get("SSL_CERT_FILE")
out["ca_readable"] = open(os.environ["SSL_CERT_FILE"]).read().count("BEGIN CERTIFICATE")
print(json.dumps(out))
'''


@pytest.fixture
def gateway(session):
    g = FakeGateway(session.data_dir / "run" / "sandbox.sock", owner=session.user)
    yield g
    g.close()


def test_traffic_goes_only_to_the_handed_over_sockets(session, gateway):
    proc = session.run(sys.executable, "-c", INSIDE, run_args=("--name", "net-test"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    request = gateway.requests[0]
    assert request["op"] == "adopt"
    assert request["session"] == "net-test"
    assert len(request["token_id"]) >= 16
    assert request["listeners"] == ["forward", "transparent", "transparent", "dns"]
    assert gateway.closed.wait(10), "the hand-over connection outlived the sandbox"

    assert out["proxy"] == "forward 127.0.0.1:3128"
    assert out["v4"] == "transparent 93.184.216.34:443"
    assert out["v4_gateway_port"] == "transparent 93.184.216.34:3128"
    assert out["loopback_other"] == "transparent 127.0.0.1:22"
    assert out["v6"] == "transparent [2001:db8::1]:80"
    assert out["v6_loopback"] == "transparent [::1]:8080"
    assert out["dns_any"] == "dns query-dns_any"
    assert out["dns_local"] == "dns query-dns_local"
    assert out["quic"].startswith("error"), out["quic"]
    assert out["udp_local"].startswith("error"), out["udp_local"]
    assert "nameserver 127.0.0.1" in out["resolv"]
    assert out["proxy_env"] == "http://127.0.0.1:3128"
    assert out["ca"] == "/run/cloakroom/ca-bundle.pem"
    assert out["ca_readable"] >= 1
