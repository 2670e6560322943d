// Third-party caveats and discharge tokens (README §5).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "token/macaroon.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

// What the third party reads from a ticket: the discharge root key and the caveats it is asked
// to check (agent-creds: one Attestation).
struct Ticket {
    Bytes discharge_key;
    std::vector<Caveat> caveats;
};

// Appends a 3P caveat for `location`: a fresh 32-byte discharge key, sealed for the third party
// inside the ticket (with `ticket_caveats`) and under the current tail as the verifier key.
// Refuses a proof token and a second 3P caveat for the same location (like the library).
// Error code "token.third_party".
Result<void> add_third_party_caveat(Macaroon& macaroon, std::string_view third_party_key,
                                    std::string_view location,
                                    const std::vector<Caveat>& ticket_caveats);

// Third-party side: opens a ticket with the shared key.
Result<Ticket> open_ticket(std::string_view third_party_key, std::string_view ticket);

// Third-party side: a discharge (proof) token for `ticket`, carrying `caveats`.
Result<Macaroon> make_discharge(std::string_view third_party_key, std::string_view ticket,
                                std::string location, const std::vector<Caveat>& caveats);

// BindToParentToken body that ties a discharge to `parent` as it is now: the first 16 bytes of
// SHA-256 of its wire tail.
BindToParent binding_for(const Macaroon& parent);

}  // namespace cloakroom::token
