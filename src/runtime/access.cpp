#include "runtime/access.hpp"

#include "token/evaluate.hpp"
#include "util/time_parse.hpp"

namespace cloakroom::runtime {
namespace {

bool genuine(const token::VerifyOutcome& outcome) {
    return outcome.stage == token::Stage::Ok || outcome.stage == token::Stage::Caveats;
}

// After the signature (and the verify cache, which only skips work that a revocation does not
// depend on): a revoked token is refused whatever its caveats say, for every protocol. A token
// that is not genuine is not checked: its id proves nothing.
std::optional<AccessDecision> revoked(const token::VerifyOutcome& outcome,
                                      std::optional<std::int64_t> minted,
                                      const AccessContext& context) {
    if (context.revocations == nullptr || !genuine(outcome)) return std::nullopt;
    const RevocationRecord* record = context.revocations->find(outcome.token_id, minted);
    if (record == nullptr) return std::nullopt;
    AccessDecision decision;
    decision.verdict = AccessDecision::Verdict::Revoked;
    decision.token_id = outcome.token_id;
    decision.minted = minted;
    if (record->before) {
        decision.detail =
            "every token minted before " + format_time_utc(*record->before) + " was revoked";
    } else {
        decision.detail = "this token was revoked";
    }
    decision.detail += " at " + format_time_utc(record->revoked_at);
    if (!record->reason.empty()) decision.detail += " (" + record->reason + ")";
    return decision;
}

AccessDecision classify(token::VerifyOutcome outcome, std::optional<std::int64_t> minted,
                        std::int64_t now) {
    AccessDecision decision;
    decision.token_id = std::move(outcome.token_id);
    decision.minted = minted;
    switch (outcome.stage) {
        case token::Stage::Access:
        case token::Stage::Header:
        case token::Stage::Decode:
        case token::Stage::Signature:
            decision.verdict = AccessDecision::Verdict::Invalid;
            decision.stage = token::stage_name(outcome.stage);
            decision.detail = std::move(outcome.reason);
            return decision;
        case token::Stage::Caveats:
            // Expired / not yet valid is about the token itself, not the request: no change of
            // the request would help (agent-creds answers 401 for it too).
            if (auto expired = token::validity_denial(outcome.caveats, now); !expired.empty()) {
                decision.verdict = AccessDecision::Verdict::Expired;
                decision.detail = std::move(expired);
                return decision;
            }
            decision.verdict = AccessDecision::Verdict::Forbidden;
            decision.detail = std::move(outcome.reason);
            decision.caveats = std::move(outcome.caveats);
            return decision;
        case token::Stage::Ok:
            break;
    }
    decision.verdict = AccessDecision::Verdict::Ok;
    decision.caveats = std::move(outcome.caveats);
    return decision;
}

template <class Request>
AccessDecision decide(std::string_view token, const Request& request,
                      const AccessContext& context) {
    token::VerifyOutcome outcome =
        token::verify_token(token, request, context.keys, context.format, context.cache);
    const std::optional<std::int64_t> minted =
        genuine(outcome) ? mint_time(outcome.caveats) : std::nullopt;
    if (auto refused = revoked(outcome, minted, context)) return std::move(*refused);
    AccessDecision decision = classify(std::move(outcome), minted, request.time_unix);
    // Fleet mode with a stale view: a revocation made on another gateway may be unknown here,
    // so no token is admitted (fail closed; docs/deployment.md). Refusals stay what they are.
    if (decision.ok() && context.revocations != nullptr && context.revocations->stale()) {
        decision.verdict = AccessDecision::Verdict::Unavailable;
        decision.caveats.clear();
        decision.detail =
            "this gateway has lost its fleet's revocation list (Redis unreachable for longer "
            "than [fleet] max_staleness); retry later or through another gateway";
    }
    return decision;
}

}  // namespace

AccessDecision decide_access(std::string_view token, const token::AccessRequest& request,
                             const AccessContext& context) {
    return decide(token, request, context);
}

AccessDecision decide_access(std::string_view token, const token::DbAccessRequest& request,
                             const AccessContext& context) {
    return decide(token, request, context);
}

}  // namespace cloakroom::runtime
