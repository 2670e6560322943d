#include "runtime/access.hpp"

#include "token/evaluate.hpp"

namespace cloakroom::runtime {
namespace {

AccessDecision classify(token::VerifyOutcome outcome, std::int64_t now) {
    AccessDecision decision;
    decision.token_id = std::move(outcome.token_id);
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

}  // namespace

AccessDecision decide_access(std::string_view token, const token::AccessRequest& request,
                             const AccessContext& context) {
    return classify(
        token::verify_token(token, request, context.keys, context.format, context.cache),
        request.time_unix);
}

AccessDecision decide_access(std::string_view token, const token::DbAccessRequest& request,
                             const AccessContext& context) {
    return classify(
        token::verify_token(token, request, context.keys, context.format, context.cache),
        request.time_unix);
}

}  // namespace cloakroom::runtime
