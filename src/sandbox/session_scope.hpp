// What a `cloakroom run` session's token may do: the services it names (all configured ones by
// default), as caveats, and the variables that receive the token. Pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "token/caveat.hpp"
#include "util/result.hpp"

namespace cloakroom::sandbox {

struct SessionScope {
    std::vector<std::string> services;   // HTTP services, by name
    std::vector<std::string> databases;  // [[database]] names
    bool everything = false;             // no --service: every configured one
    std::vector<token::Caveat> caveats;  // without the validity window
    std::vector<std::string> token_env;  // de-duplicated, in configuration order
};

// Errors "usage": an unknown name (the configured ones are listed), or HTTP services and
// databases mixed (one token cannot be limited to both; leave --service out instead).
Result<SessionScope> session_scope(const config::Config& config,
                                   const std::vector<std::string>& names);

// The scope's caveats plus a validity window [now, now + lifetime].
std::vector<token::Caveat> session_caveats(const SessionScope& scope, std::int64_t now,
                                           std::chrono::seconds lifetime);

}  // namespace cloakroom::sandbox
