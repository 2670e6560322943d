// The caveat flags shared by `mint` and `attenuate` (the agent-creds `mint` flag set).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "token/token.hpp"
#include "util/result.hpp"

namespace cloakroom::cli {

struct CaveatFlags {
    std::vector<std::string> hosts;
    std::vector<std::string> methods;
    std::vector<std::string> paths;
    std::vector<std::string> db_services;  // --db
    std::vector<std::string> db_logins;    // --db-login
    std::vector<std::string> db_names;     // --db-name
    std::vector<std::string> db_commands;  // --db-commands
    std::string rate;                      // --rate, e.g. 10/s (a Limits caveat)
    std::uint64_t concurrency = 0;         // --concurrency (0 = none)
    std::uint64_t budget = 0;              // --budget (0 = none)
    std::string valid_for;                 // duration, e.g. 1h
    std::string not_before;                // RFC 3339 or Unix seconds
    bool show_caveats = false;
};

void add_caveat_flags(CLI::App* command, CaveatFlags& flags);

struct ValidityPolicy {
    std::optional<std::chrono::seconds> default_validity;  // mint: always a window
    std::optional<std::chrono::seconds> max_validity;
};

// Builds the caveats in a fixed order (hosts, methods, paths, database services, logins, names,
// commands, limits, validity window). Empty database list entries are usage errors.
Result<std::vector<token::Caveat>> build_caveats(const CaveatFlags& flags, std::int64_t now,
                                                 const ValidityPolicy& policy);

}  // namespace cloakroom::cli
