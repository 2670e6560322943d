// Internal to the config module: what the per-format parsers share while files are applied, in
// order, onto one Config. Finalization (defaults that depend on other settings, cross-file
// checks, environment overrides) happens in loader.cpp once every file has been applied.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/environment.hpp"
#include "config/model.hpp"
#include "config/rate_text.hpp"
#include "config/toml_reader.hpp"

namespace cloakroom::config::detail {

struct Document {
    const toml::table& root;
    std::string file;                               // as shown in messages
    std::optional<std::filesystem::path> base_dir;  // for relative paths; none = keep relative
};

struct LoadState {
    explicit LoadState(const Environment& environment) : env(environment) {}

    const Environment& env;
    Config config;
    Diagnostics diagnostics;
    // Settings whose default depends on others, or which are checked against each other after
    // all files are in: where each was last set.
    std::optional<SourceLocation> data_dir_set;
    std::optional<SourceLocation> key_dir_set;
    std::optional<SourceLocation> secrets_dir_set;
    bool audit_log_set = false;
    bool public_dir_set = false;
    bool sandbox_socket_set = false;
    bool admin_socket_set = false;
    std::optional<SourceLocation> validity_set;
    std::vector<Located<std::string>> allowed_hosts;  // normalized, duplicates not yet removed
};

void apply_cloakroom_format(const Document& document, LoadState& state);
// The limit keys (rate, concurrency, token_rate, token_concurrency, token_budget) of a
// [[service]], [[database]] or [limits] table (limits_format.cpp).
void read_limits(TableReader& reader, Limits& limits);
// [admin] (limits_format.cpp).
void apply_admin(const toml::table& table, const Document& document, LoadState& state);
void apply_fleet(const toml::table& table, const Document& document, LoadState& state);
void apply_agent_creds_format(const Document& document, LoadState& state);
// [profile.NAME] tables (profile_format.cpp).
void apply_profiles(const toml::table& profiles, const Document& document, LoadState& state);
// An agent-creds [sandbox] with a name: a profile whose services are the file's upstream hosts.
void apply_agent_creds_sandbox(const toml::table& sandbox, const std::vector<std::string>& hosts,
                               const Document& document, LoadState& state);
// Once every file is in: one definition per name, every extends chain resolves.
void check_profiles(LoadState& state);
// One [[database]] table (database_format.cpp); appended to state.config.databases when valid.
void apply_database(const toml::table& table, const Document& document, LoadState& state);
// [[browser_target]] and [[cdp_target]] entries (browser_format.cpp), in either format.
void apply_browser_targets(const std::vector<const toml::table*>& tables, const Document& document,
                           LoadState& state);
void apply_cdp_targets(const std::vector<const toml::table*>& tables, const Document& document,
                       LoadState& state);
// cloakroom.toml's [browser] table.
void apply_browser(const toml::table& table, const Document& document, LoadState& state);

// Shared value readers. Each reports its own errors and returns nullopt on any problem.
std::optional<std::filesystem::path> read_path(TableReader& reader, std::string_view key,
                                               const Document& document, const Environment& env);
std::optional<std::chrono::seconds> read_duration(TableReader& reader, std::string_view key);
// "file:x" / "env:X" / ... or agent-creds' { provider = "env", name = "X" }.
std::optional<secrets::SecretRef> read_secret_ref(TableReader& reader, std::string_view key);
// A normalized authority (see authority.hpp) from a string; `what` names it in messages.
std::optional<std::string> check_host(const TableReader& reader, const Located<std::string>& host);

// token_env = ["NAME", ...] (services and databases: the variables `cloakroom run` puts the
// session token in), appended to `out`. False when the key is present and wrong.
bool read_token_env(TableReader& reader, const toml::table& table, std::vector<std::string>& out);

// 127.0.0.0/8 or ::1 (an IP literal; names are not resolved).
bool is_loopback_listen_host(const std::string& host);

// Why a token prefix is unusable, or nullopt when it is fine.
std::optional<std::string> token_prefix_problem(std::string_view prefix);

// A cloakroom-format credential table; `parent` supplies file and context for messages.
std::optional<Credential> read_credential(const toml::table& table, const TableReader& parent);

}  // namespace cloakroom::config::detail
