// Readable JSON of decoded macaroons (no key needed, nothing verified): what `cloakroom token
// inspect` prints. Caveat names and bodies follow the vectors' "decoded" objects.
#pragma once

#include <nlohmann/json.hpp>

#include "token/macaroon.hpp"

namespace cloakroom::token {

// {"type", "type_hex", "name", "body"}; ValidityWindow bodies also carry RFC 3339 UTC times.
nlohmann::json caveat_json(const Caveat& caveat);
// {"location", "key_id" (text or null), "key_id_hex", "token_id", "proof", "nonce_fields",
//  "caveats", "tail_hex"}.
nlohmann::json macaroon_json(const Macaroon& macaroon);

}  // namespace cloakroom::token
