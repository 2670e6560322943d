"""Writes seed inputs for the fuzz targets from the token vectors and sample paths."""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "fuzz"
here = os.path.dirname(os.path.abspath(__file__))
vectors = json.load(open(os.path.join(here, "..", "tests", "vectors", "agent_creds_tokens.json")))


def write(target, name, data):
    d = os.path.join(root, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


for i, v in enumerate(vectors["vectors"] + vectors["quirk_vectors"]):
    if v.get("msgpack_hex"):
        write("token_decode_fuzz", f"msgpack-{i}", bytes.fromhex(v["msgpack_hex"]))
    write("token_decode_fuzz", f"text-{i}", v["token"].encode())
    for c in v.get("checks", []):
        write("path_normalize_fuzz", f"path-{i}-{len(c['path'])}", c["path"].encode())
for i, entry in enumerate(vectors.get("path_glob_to_regex", [])):
    write("path_normalize_fuzz", f"pattern-{i}", entry["pattern"].encode())
for i, p in enumerate(["/a/../b", "/%2e%2e/x", "//a//b/", "/a%2Fb", "/a?x=/../", "/%41%7e",
                       # path parameters (refused raw, data when encoded)
                       "/v1/public/..;/admin", "/v1/admin;x=1/keys", "/a/.;/b", "/a/%2e%2e;/b",
                       "/a/..%3B/b", "/a%3bb", "/a?x=1;y=2"]):
    write("path_normalize_fuzz", f"extra-{i}", p.encode())

# HTTP heads: framing edge cases the head parser and Beast must read alike (the fuzzer compares
# them), among them a zero-padded Content-Length longer than 19 characters.
for i, head in enumerate([
    b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"0" * 40 + b"5\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0009007199254740992\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nConnection: x-a, close\r\nX-A: 1\r\n\r\n",
    # Malformed responses that echo a credential in the offending line: their reasons quote
    # nothing of the response (http/head_text.hpp).
    b"HTTP/1.1 200 OK\r\nX-Echo Bearer sk_live_123\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: sk_live_123\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: sk_live_123\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: Bearer sk_live_123\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-sk_live_123(: 1\r\n\r\n",
    b"HTTP/1.1 Bearer sk_live_123\r\n\r\n",
    b"HTTP/1.1 200 Bearer sk_live_123\x01\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: Bearer sk_live_123\x7f\r\n\r\n",
]):
    write("http_head_fuzz", f"head-{i}", head)

# Database handshake parsers: each protocol's seeds live beside its fuzz target.
import importlib.util

for proto in ("postgres", "mysql", "redis"):
    path = os.path.join(here, f"seed_db_{proto}.py")
    if not os.path.exists(path):
        continue
    spec = importlib.util.spec_from_file_location(f"seed_db_{proto}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_seeds(os.path.join(root, "seeds", f"db_{proto}_fuzz"))
