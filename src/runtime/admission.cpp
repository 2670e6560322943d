#include "runtime/admission.hpp"

#include "runtime/metrics.hpp"

namespace cloakroom::runtime {

std::optional<Refusal> admit_limits(const Runtime& runtime, std::string_view scope,
                                    const config::Limits* limits, std::string_view token_id,
                                    std::span<const token::UsageLimits> caveat_limits,
                                    std::optional<std::int64_t> token_expires, Exchange& exchange) {
    std::unique_ptr<Limiter::Permit> permit;
    auto refusal =
        admit_limits(runtime, scope, limits, token_id, caveat_limits, token_expires, permit);
    if (permit) exchange.hold(std::move(permit));
    return refusal;
}

std::optional<Refusal> admit_limits(const Runtime& runtime, std::string_view scope,
                                    const config::Limits* limits, std::string_view token_id,
                                    std::span<const token::UsageLimits> caveat_limits,
                                    std::optional<std::int64_t> token_expires,
                                    std::unique_ptr<Limiter::Permit>& held) {
    if (!runtime.limiter) return std::nullopt;
    const config::Limits& global = runtime.config.limits;
    // The common case, nothing configured and no Limits caveat: no lock, no lookup.
    if (!global.any() && (limits == nullptr || !limits->any()) &&
        (token_id.empty() || caveat_limits.empty()))
        return std::nullopt;
    auto admitted =
        runtime.limiter->admit(scope, limits, global, token_id, caveat_limits, token_expires);
    if (auto* permit = std::get_if<std::unique_ptr<Limiter::Permit>>(&admitted)) {
        held = std::move(*permit);
        return std::nullopt;
    }
    const LimitRefusal& limited = std::get<LimitRefusal>(admitted);
    metrics().limit_hit(scope, limited.scope, limited.kind);
    Refusal refusal{429, limited.kind == LimitKind::Budget ? "budget_exhausted" : "rate_limited",
                    limited.reason};
    refusal.retry_after = static_cast<unsigned>(limited.retry_after);
    return refusal;
}

}  // namespace cloakroom::runtime
