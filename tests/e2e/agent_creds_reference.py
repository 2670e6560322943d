"""An independent reading of the agent-creds token format (tests/vectors/README.md §3-4), written
in Python from the spec alone, so a Cloakroom-minted token is checked by code that shares nothing
with Cloakroom's C++ implementation."""
import base64
import hashlib
import hmac

import msgpack

PROOF_KEY = b"proof-signature-finalization"


def decode(token: str, prefix: str = "acm_"):
    assert token.startswith(prefix)
    body = token[len(prefix):]
    assert "=" not in body and "+" not in body and "/" not in body
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    mac = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    # Canonical: re-encoding gives the same bytes, so HMACing re-encodings equals the wire bytes.
    assert msgpack.packb(mac, use_bin_type=True) == raw
    return mac


def verify(token: str, root_key: bytes, prefix: str = "acm_") -> bool:
    nonce, _location, caveats, tail = decode(token, prefix)
    assert len(caveats) % 2 == 0 and len(tail) == 32
    mac = hmac.new(root_key, msgpack.packb(nonce, use_bin_type=True), hashlib.sha256).digest()
    for i in range(0, len(caveats), 2):
        msg = b"\x92" + msgpack.packb(caveats[i]) + msgpack.packb(caveats[i + 1], use_bin_type=True)
        mac = hmac.new(mac, msg, hashlib.sha256).digest()
    if len(nonce) == 3 and nonce[2]:
        mac = hmac.new(PROOF_KEY, mac, hashlib.sha256).digest()
    return hmac.compare_digest(mac, tail)


CAVEAT_NAMES = {4: "ValidityWindow", 2**32 + 1: "APIHost", 2**32 + 2: "APIMethod",
                2**32 + 3: "APIPath"}


def caveats(token: str, prefix: str = "acm_"):
    _nonce, _location, cavs, _tail = decode(token, prefix)
    return [(CAVEAT_NAMES.get(cavs[i], cavs[i]), cavs[i + 1]) for i in range(0, len(cavs), 2)]
