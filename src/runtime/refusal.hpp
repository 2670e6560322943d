// The one way Cloakroom says no, for every front end and protocol: a status, a stable error id
// and a reason. HTTP front ends answer it as a JSON error (proxy/error_response.hpp); database
// gateways map it onto their wire's error; every refusal is also an audit record
// (docs/architecture.md, "Refusals"). The reason is shown to the agent and written to the audit
// log, so it never holds a secret, a token, or bytes an upstream sent (docs/architecture.md,
// invariant 1).
#pragma once

#include <string>

namespace cloakroom::runtime {

struct Refusal {
    unsigned status = 0;  // HTTP status (database gateways: the closest HTTP meaning)
    std::string error;    // stable snake_case id, e.g. "token_forbidden"
    std::string reason;   // readable, for the agent and the audit record
    // Seconds after which a retry may succeed (429 from a rate or concurrency limit): HTTP
    // front ends send it as Retry-After. 0: none.
    unsigned retry_after = 0;
};

}  // namespace cloakroom::runtime
