// The decoded macaroon (tests/vectors/README.md §3.2–3.4) and its canonical codec.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "token/caveat.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

struct Nonce {
    Bytes kid;            // root key id; for a discharge, the 3P ticket
    Bytes rnd;            // 16 random bytes; hex of it is the token id
    bool proof = false;   // discharge tokens: tail is finalized, no more caveats
    bool legacy = false;  // pre-proof 2-element layout [kid, rnd]; re-encoded as such
    bool operator==(const Nonce&) const = default;
};

struct Macaroon {
    Nonce nonce;
    std::string location;  // not signed
    std::vector<Caveat> caveats;
    Bytes tail;  // 32-byte signature as on the wire (finalized for proofs)
    bool operator==(const Macaroon&) const = default;
};

Bytes encode_nonce(const Nonce& nonce);
Bytes encode_caveat_body(const Caveat& caveat);
// One-caveat caveat set [type, body]: the HMAC input of a caveat and the library's dedup key.
Bytes encode_caveat_hmac_input(const Caveat& caveat);
Bytes encode_caveat_set(const std::vector<Caveat>& caveats);  // flat [t1, b1, t2, b2, ...]
Bytes encode_macaroon(const Macaroon& macaroon);

// Strict decoders (error code "token.decode", messages start with "decode: "). Cloakroom HMACs
// the received bytes, so it refuses any input that does not re-encode to itself: every accepted
// token has exactly one byte form, and what is checked is what was signed. The reference library
// instead re-encodes before HMACing and so accepts e.g. over-wide integers
// (vector quirk_noncanonical_int_width); library-made tokens are always canonical.
Result<Macaroon> decode_macaroon(std::string_view wire);
Result<std::vector<Caveat>> decode_caveat_set(std::string_view wire);

}  // namespace cloakroom::token
