// The limits check of an admitted request or database login (runtime/rate_limit.hpp): one call
// after the access decision, shared by every front end and protocol, so that a limit applies
// everywhere at once. It counts the refusal (metrics) and keeps the permit with the exchange.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "config/model.hpp"
#include "runtime/exchange.hpp"
#include "runtime/refusal.hpp"
#include "runtime/runtime.hpp"

namespace cloakroom::runtime {

// `scope` names the service or database ("" for none: only the gateway's limits apply),
// `limits` its limits (may be null), `token_id` the request's token ("" for none),
// `caveat_limits` the token's Limits caveats (token::usage_limits), `token_expires` its expiry
// (token::expiry; how long fleet mode keeps its budget counts in Redis). Returns the
// refusal to answer (429 `rate_limited` with retry_after, or 429 `budget_exhausted`), or
// nullopt with the permit held by `exchange`.
std::optional<Refusal> admit_limits(const Runtime& runtime, std::string_view scope,
                                    const config::Limits* limits, std::string_view token_id,
                                    std::span<const token::UsageLimits> caveat_limits,
                                    std::optional<std::int64_t> token_expires, Exchange& exchange);
// The same, giving the permit to the caller (a database login keeps it with its session).
std::optional<Refusal> admit_limits(const Runtime& runtime, std::string_view scope,
                                    const config::Limits* limits, std::string_view token_id,
                                    std::span<const token::UsageLimits> caveat_limits,
                                    std::optional<std::int64_t> token_expires,
                                    std::unique_ptr<Limiter::Permit>& permit);

}  // namespace cloakroom::runtime
