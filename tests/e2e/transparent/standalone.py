"""`cloakroom serve` with `[gateway] transparent_listen` on its own, no sandbox: runs inside
`unshare -Urn` with a TLS upstream on this namespace's loopback, the user's own nftables rule sending
TCP port 443 to the transparent listener, and curl ignoring proxy variables. Prints a JSON report.

Usage: standalone.py BIN CONFIG_TEMPLATE PKI_DIR TOKEN_MINT_ARGS_JSON
CONFIG_TEMPLATE has {upstream} where the upstream's "127.0.0.1:PORT" goes."""
import json
import pathlib
import re
import subprocess
import sys
import time

import upstreams

NFT = """
table inet user {
  chain out {
    type nat hook output priority -100; policy accept;
    meta l4proto tcp tcp dport 443 redirect to :15001
  }
}
"""


def main():
    binary, template, pki_dir = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["nft", "-f", "-"], input=NFT.encode(), check=True)
    up = upstreams.PyUpstream(upstreams.PKI(pki_dir)).start()
    config = template.with_name("cloakroom.toml")
    config.write_text(template.read_text().replace("{upstream}", f"127.0.0.1:{up.port}"))
    gw = subprocess.Popen([binary, "--config", str(config), "serve"], stderr=subprocess.PIPE, text=True)
    report = {}
    try:
        seen = ""
        deadline = time.monotonic() + 15
        while "(transparent)" not in seen and time.monotonic() < deadline:
            seen += gw.stderr.readline()
        report["listening"] = re.findall(r"listening on (\S+) \(transparent\)", seen)
        token = subprocess.run([binary, "--config", str(config), "mint", "--hosts", "localhost",
                                "--valid-for", "10m"], capture_output=True, text=True, check=True).stdout.strip()
        ca = config.parent / "data" / "ca" / "ca.pem"
        p = subprocess.run(["curl", "-sS", "--max-time", "15", "--noproxy", "*", "--cacert", str(ca),
                            "-H", f"Authorization: Bearer {token}", "https://localhost/v1/standalone"],
                           capture_output=True, text=True)
        report["curl_rc"] = p.returncode
        report["curl_stderr"] = p.stderr
        records = up.records()
        report["upstream_paths"] = [r["requestline"] for r in records]
        auth = [v for r in records for k, v in r["headers"] if k.lower() == "authorization"]
        # Only whether the real credential arrived, never the value itself.
        report["injected"] = bool(auth) and all(v == "Bearer " + upstreams_secret() for v in auth)
        report["token_seen_upstream"] = any(token in v for v in auth)
    finally:
        gw.terminate()
        gw.wait(timeout=10)
        up.stop()
    print(json.dumps(report))


def upstreams_secret():
    import gwlib
    return gwlib.SECRETS["bearer"]


if __name__ == "__main__":
    main()
