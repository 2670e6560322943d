// The HMAC chain (README §4.1): minting, keyless attenuation and recomputation for verification.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "token/macaroon.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

// tails[0] = HMAC(root, nonce); tails[i] = HMAC(tails[i-1], [type_i, body_i]). Not finalized.
std::vector<Bytes> compute_chain(std::string_view root_key, const Macaroon& macaroon);

// Proof (discharge) tokens carry HMAC("proof-signature-finalization", tail_n) on the wire.
Bytes finalize_proof(std::string_view tail);

// The wire tail this root key would give the macaroon (finalized when it is a proof).
Bytes expected_tail(std::string_view root_key, const Macaroon& macaroon);

// A new macaroon: nonce [kid, 16 random bytes, proof], the caveats (deduplicated like the
// library), tail finalized for proofs. 3P caveats cannot be minted this way
// (add_third_party_caveat seals them); error code "token.mint".
Result<Macaroon> mint_macaroon(std::string_view root_key, Bytes kid, std::string location,
                               const std::vector<Caveat>& caveats, bool proof = false);

// Attenuation without the key: appends each caveat and advances the tail. Like the library it
// silently skips a caveat byte-identical to one already present (or earlier in `caveats`), and
// refuses proof tokens, whose tail is finalized. Error code "token.attenuate".
Result<void> attenuate(Macaroon& macaroon, const std::vector<Caveat>& caveats);

// Hex of the nonce's random bytes: the token id used in logs and audit records.
std::string token_id(const Macaroon& macaroon);

}  // namespace cloakroom::token
