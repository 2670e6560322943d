// The one access decision for a token, shared by every front end and protocol (HTTP requests,
// database logins): verify it, then classify the outcome as invalid / expired / forbidden / ok.
// Each front end words the verdict for its wire (HTTP 401/403, PostgreSQL 28P01/28000, MySQL
// 1045, Redis -WRONGPASS/-NOPERM), but what counts as which is decided here only, so a check
// added later (revocation, rate limits) applies everywhere at once (docs/architecture.md,
// "Access decisions").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/revocation_store.hpp"
#include "token/caveat.hpp"
#include "token/keys.hpp"
#include "token/shared_caveats.hpp"
#include "token/token.hpp"
#include "token/verify_cache.hpp"

namespace cloakroom::runtime {

struct AccessDecision {
    enum class Verdict {
        Ok,
        Invalid,    // not a token of ours: undecodable, bad signature, unknown key
        Expired,    // its validity window does not hold now (expired or not yet valid)
        Forbidden,  // valid, but a caveat does not allow this request
        Revoked,    // genuine, but revoked (runtime/revocation_list.hpp), whatever its caveats
        // would be Ok, but fleet mode's revocation view is stale (Revocations::stale): a
        // revocation made on another gateway may be unknown here; refused until it is fresh
        Unavailable,
    } verdict = Verdict::Invalid;
    // Why, in words for the agent and the audit record; never the token.
    std::string detail;
    std::string_view stage;        // Invalid: the failed stage ("decode", "signature", …)
    std::string token_id;          // once the token decoded, also on denials
    token::SharedCaveats caveats;  // the verified token's caveats (Ok and Forbidden)
    // The token's mint time (runtime::mint_time) once its signature verified: what a `before`
    // revocation compares, kept with a live session so a later revocation can end it.
    std::optional<std::int64_t> minted;

    bool ok() const { return verdict == Verdict::Ok; }
};

struct AccessContext {
    const token::KeyStore& keys;
    token::TokenFormat format;
    token::VerifyCache* cache = nullptr;       // belongs to `keys`' runtime snapshot; may be null
    const Revocations* revocations = nullptr;  // null: nothing is revoked (tests)
};

AccessDecision decide_access(std::string_view token, const token::AccessRequest& request,
                             const AccessContext& context);
AccessDecision decide_access(std::string_view token, const token::DbAccessRequest& request,
                             const AccessContext& context);

}  // namespace cloakroom::runtime
