// Injection plans reused across requests. Building a plan (header value, redaction needles in
// every encoding, their compiled matcher) was about 15 allocations and two matcher-cache lookups
// per request, for values that only change when the secret does. Each worker thread keeps its
// last kCapacity plans; a request still resolves its secrets (so a rotation, a removed file or a
// permission change is seen exactly as before) and reuses the plan only when the resolved bytes
// equal the ones it was built from.
//
// Keyed by the credential object and its owner (the Runtime snapshot holding the config): a
// reload makes new objects, and an entry whose owner is gone never matches (its address may be
// reused). Cached plans hold secret values in memory like the redactor's cache: wiped when the
// entry is replaced or evicted and at thread exit (docs/secrets.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "config/model.hpp"
#include "proxy/head_redaction.hpp"
#include "proxy/injection.hpp"
#include "secrets/resolver.hpp"
#include "util/result.hpp"

namespace cloakroom::proxy {

struct PreparedInjection {
    InjectionPlan plan;
    CompiledNeedles needles;  // plan.values_to_redact, compiled; empty() when there are none
};

// plan_injection's result (same errors), shared read-only; valid on the calling thread for as
// long as the caller holds it.
Result<std::shared_ptr<const PreparedInjection>> prepare_injection(
    const std::shared_ptr<const void>& owner, const config::Credential& credential,
    const secrets::SecretResolver& resolver);

namespace detail {
inline constexpr std::size_t kInjectionCacheCapacity = 16;
struct InjectionCacheStats {
    std::uint64_t hits = 0;
    std::uint64_t builds = 0;
};
// The calling thread's counters (tests).
InjectionCacheStats injection_cache_stats();
}  // namespace detail

}  // namespace cloakroom::proxy
