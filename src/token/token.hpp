// Facade of the token module: what the CLI and the gateway call. Tokens are agent-creds /
// superfly macaroons (tests/vectors/README.md); see docs/tokens.md for Cloakroom's decisions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "token/caveat.hpp"
#include "token/evaluate.hpp"
#include "token/keys.hpp"
#include "token/token_text.hpp"
#include "token/verify.hpp"
#include "token/verify_cache.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

// A new token under key `kid` of `keys`, location format.location. Error code "token.mint".
Result<std::string> mint_token(const KeyStore& keys, std::string_view kid,
                               const std::vector<Caveat>& caveats, const TokenFormat& format);

// Narrows a token without any key. With "main,discharge..." the main token is attenuated and
// the discharges are kept after it (a "Bearer " prefix is accepted and not repeated).
Result<std::string> attenuate_token(std::string_view token_or_header,
                                    const std::vector<Caveat>& caveats, const TokenFormat& format);

// Decodes without verifying: {"location", "key_id", "key_id_hex", "token_id", "proof",
// "nonce_fields", "caveats": [...], "tail_hex", "discharges": [...]}.
Result<nlohmann::json> inspect_token(std::string_view token_or_header, const TokenFormat& format);

VerifyOutcome verify_token(std::string_view token_or_header, const AccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format);
VerifyOutcome verify_token(std::string_view token_or_header, const DbAccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format);
// The same with a verification cache (nullptr = none; see token/verify_cache.hpp). The cache
// must only ever be used with this one KeyStore (the gateway keeps one per runtime snapshot).
VerifyOutcome verify_token(std::string_view token_or_header, const AccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format, VerifyCache* cache);
VerifyOutcome verify_token(std::string_view token_or_header, const DbAccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format, VerifyCache* cache);

Caveat hosts_caveat(std::vector<std::string> hosts);
Caveat methods_caveat(std::vector<std::string> methods);
// Every pattern must compile as a policy::PathPattern (error code "pattern.invalid").
Result<Caveat> paths_caveat(std::vector<std::string> patterns);
Caveat validity_caveat(std::int64_t not_before, std::int64_t not_after);
Caveat db_services_caveat(std::vector<std::string> services);
Caveat db_logins_caveat(std::vector<std::string> logins);
Caveat db_names_caveat(std::vector<std::string> names);
// Command names are upper-cased; "@read" style categories (leading '@') are lower-cased.
Caveat db_commands_caveat(std::vector<std::string> commands);

}  // namespace cloakroom::token
