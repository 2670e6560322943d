// Loading configuration: TOML text -> validated Config. See docs/configuration.md.
//
// Each file is either cloakroom.toml format ([gateway] [token] [secrets] [allow] [[service]]) or
// agent-creds format (agent-creds.toml and/or vault.toml tables), detected from its top-level
// tables. Files are applied in order: a scalar setting in a later file overrides an earlier one;
// services and allowed hosts accumulate. Then environment overrides apply (STRICT_MODE,
// TOKEN_PREFIX) and cross-file checks run (duplicate service names, a host claimed by two
// services, default_validity <= max_validity).
//
// Errors (never thrown):
//   "config.io"       a file cannot be read
//   "config.syntax"   TOML syntax error: "file:line:column: what toml++ says"
//   "config.invalid"  one line per problem: "file:line: context: problem"
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "config/environment.hpp"
#include "config/model.hpp"
#include "util/result.hpp"

namespace cloakroom::config {

// Source name used for the compiled-in default configuration.
inline constexpr std::string_view kEmbeddedDefaultName = "<embedded default>";

// The compiled-in default: loopback listener on 127.0.0.1:3128, no services, XDG directories.
std::string_view embedded_default_config();

// Parses TOML text as if it were a file called source_name. Relative paths in it stay relative.
Result<Config> parse_config_string(std::string_view toml, std::string_view source_name,
                                   const Environment& env);

// Loads and merges files in order. Relative paths inside a file are relative to its directory.
Result<Config> load_config(const std::vector<std::filesystem::path>& files, const Environment& env);

// Which files load_default_config() reads: $CLOAKROOM_CONFIG (a ':' or ',' separated list) if
// set and non-empty, else $XDG_CONFIG_HOME/cloakroom/cloakroom.toml if it exists, else none
// (meaning the embedded default).
std::vector<std::filesystem::path> default_config_files(const Environment& env);

// load_config(default_config_files(env)), or the embedded default when that list is empty.
Result<Config> load_default_config(const Environment& env);

}  // namespace cloakroom::config
