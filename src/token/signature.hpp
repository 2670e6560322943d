// Signature verification of a main token with its discharges (README §4.1, §5), with an explicit
// root key. Key selection by key id lives in verify.hpp.
#pragma once

#include <string_view>
#include <vector>

#include "token/macaroon.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

// Recomputes main's HMAC chain from `root_key`; for every 3P caveat finds the discharges whose
// key id equals the ticket, opens the verifier key with the tail before the caveat and verifies
// a discharge with it (one good discharge per ticket suffices; discharges of unrelated tickets
// are ignored; a discharge may not need discharges itself). BindToParentToken caveats must be a
// prefix of SHA-256 of one of the parent's chain tails (so they always fail in a main token).
// Returns the caveats still to evaluate: main's ordinary caveats, then each discharge's in 3P
// caveat order. Error code "token.signature"; messages never contain key material.
Result<std::vector<Caveat>> verify_macaroon(std::string_view root_key, const Macaroon& main,
                                            const std::vector<Macaroon>& discharges);

}  // namespace cloakroom::token
