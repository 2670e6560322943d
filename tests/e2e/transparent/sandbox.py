"""What `cloakroom run` does on the sandbox side, reduced to the network: runs inside `unshare -Urn`
(new user + network namespace, only loopback), creates the listening sockets a sandbox hands over,
passes them to the gateway's hand-over socket, optionally installs the nftables redirect, runs one
shell command while the hand-over connection stays open, and prints a JSON report on stdout.

Usage: sandbox.py HANDOVER_SOCKET SPEC_JSON
SPEC: {"listeners": ["forward", "transparent", "transparent6", "dns", "dns-tcp"],
       "message": optional raw message to send instead of the adopt request,
       "nft": true/false, "command": "shell command", "env": {...}}
"""
import json
import os
import socket
import subprocess
import sys

ADDRESSES = {
    "forward": ("forward", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 3128)),
    "transparent": ("transparent", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 15001)),
    "transparent6": ("transparent", socket.AF_INET6, socket.SOCK_STREAM, ("::1", 15001)),
    "dns": ("dns", socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 53)),
    "dns-tcp": ("dns-tcp", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 53)),
}

# Every TCP connection except to the handed-over ports goes to the transparent listener; DNS to
# the DNS listener; all other UDP is dropped.
NFT = """
table inet sandbox {
  chain nat_out {
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.1 tcp dport { 3128, 15001, 53 } return
    ip6 daddr ::1 tcp dport 15001 return
    meta nfproto ipv4 meta l4proto tcp redirect to :15001
    meta nfproto ipv6 meta l4proto tcp redirect to :15001
    meta nfproto ipv4 udp dport 53 redirect to :53
  }
  chain filter_out {
    type filter hook output priority 0; policy accept;
    meta nfproto ipv4 meta l4proto udp ip daddr != 127.0.0.1 drop
    meta nfproto ipv6 meta l4proto udp ip6 daddr != ::1 drop
  }
}
"""


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def main():
    path, spec = sys.argv[1], json.loads(sys.argv[2])
    sh("ip", "link", "set", "lo", "up")
    # Routes through lo, so that a connect() to any address reaches the nat hook.
    sh("ip", "route", "add", "default", "dev", "lo", "src", "127.0.0.1")
    sh("ip", "-6", "route", "add", "default", "dev", "lo")
    sockets, kinds = [], []
    for name in spec.get("listeners", []):
        kind, family, type_, address = ADDRESSES[name]
        s = socket.socket(family, type_)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(address)
        if type_ == socket.SOCK_STREAM:
            s.listen(64)
        sockets.append(s)
        kinds.append(kind)
    handover = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    handover.connect(path)
    message = spec.get("message") or json.dumps(
        {"op": "adopt", "session": spec.get("session", "test"), "token_id": "ab12", "listeners": kinds})
    socket.send_fds(handover, [message.encode()], [s.fileno() for s in sockets])
    reply = json.loads(handover.recv(65536))
    # The gateway has its own copies now; the sandbox keeps none.
    for s in sockets:
        s.close()
    report = {"reply": reply}
    if spec.get("nft"):
        subprocess.run(["nft", "-f", "-"], input=NFT.encode(), check=True, capture_output=True)
    if spec.get("command"):
        env = dict(os.environ)
        env.update(spec.get("env", {}))
        for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
            env.pop(k, None)
        p = subprocess.run(["sh", "-c", spec["command"]], capture_output=True, env=env, timeout=60)
        report.update(rc=p.returncode, stdout=p.stdout.decode("utf-8", "replace"),
                      stderr=p.stderr.decode("utf-8", "replace"))
    handover.sendall(json.dumps({"op": "status"}).encode())
    report["status"] = json.loads(handover.recv(65536))
    handover.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
