#include "config/loader.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "config/load_state.hpp"
#include "util/duration.hpp"

namespace cloakroom::config {
namespace {

using detail::Diagnostics;
using detail::Document;
using detail::LoadState;

enum class Format { Cloakroom, AgentCreds };

const std::vector<std::string> kCloakroomTables{"gateway", "token",    "secrets", "allow",
                                                "service", "database", "profile", "browser",
                                                "admin",   "limits",   "fleet"};
const std::vector<std::string> kAgentCredsTables{"sandbox",    "upstream", "browser_target",
                                                 "cdp_target", "vault",    "credentials"};

// A config file is small; anything this large is a mistake (or an attack on the parser).
constexpr std::uintmax_t kMaxFileSize = 4 * 1024 * 1024;

// Settings not written in any file are reported against this pseudo-source.
const SourceLocation kDefaults{"<defaults>"};

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// The format follows from the top-level tables; a file mixing both is rejected because it is
// ambiguous which tool's semantics the author had in mind.
std::optional<Format> detect_format(const Document& document, Diagnostics& diagnostics) {
    std::optional<std::string> cloakroom_key;
    std::optional<std::string> agent_creds_key;
    const toml::key* agent_creds_source = nullptr;
    bool ok = true;
    for (auto&& [key, value] : document.root) {
        const std::string name(key.str());
        if (contains(kCloakroomTables, name)) {
            if (!cloakroom_key) cloakroom_key = name;
        } else if (contains(kAgentCredsTables, name)) {
            if (!agent_creds_key) {
                agent_creds_key = name;
                agent_creds_source = &key;
            }
        } else {
            std::vector<std::string> all = kCloakroomTables;
            all.insert(all.end(), kAgentCredsTables.begin(), kAgentCredsTables.end());
            std::string message = "unknown top-level key \"" + name + "\"";
            if (auto hint = detail::suggest(name, all))
                message += " (did you mean \"" + *hint + "\"?)";
            diagnostics.error(detail::location(document.file, key.source()), "", message);
            ok = false;
        }
    }
    if (cloakroom_key && agent_creds_key) {
        diagnostics.error(detail::location(document.file, agent_creds_source->source()), "",
                          "this file mixes cloakroom.toml tables ([" + *cloakroom_key +
                              "]) with agent-creds tables ([" + *agent_creds_key +
                              "]); put them in separate files");
        return std::nullopt;
    }
    if (!ok) return std::nullopt;
    return agent_creds_key ? Format::AgentCreds : Format::Cloakroom;
}

// Parses and applies one document; a syntax error ends loading at once (nothing after it in
// that file can be trusted), validation problems are collected in state.diagnostics.
Result<void> apply_text(std::string_view text, const std::string& file,
                        std::optional<std::filesystem::path> base_dir, LoadState& state) {
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& error) {
        const auto& begin = error.source().begin;
        return make_error("config.syntax", file + ":" + std::to_string(begin.line) + ":" +
                                               std::to_string(begin.column) + ": " +
                                               std::string(error.description()));
    }
    const Document document{root, file, std::move(base_dir)};
    auto format = detect_format(document, state.diagnostics);
    if (format == Format::Cloakroom) detail::apply_cloakroom_format(document, state);
    if (format == Format::AgentCreds) detail::apply_agent_creds_format(document, state);
    state.config.sources.push_back(file);
    return {};
}

std::optional<bool> parse_env_bool(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    if (lower == "true" || lower == "1") return true;
    if (lower == "false" || lower == "0" || lower.empty()) return false;
    return std::nullopt;
}

void apply_environment(LoadState& state) {
    if (auto strict = state.env.get("STRICT_MODE")) {
        auto value = parse_env_bool(*strict);
        if (!value) {
            // Failing is safer than guessing: the operator asked for something about strictness.
            state.diagnostics.error({"$STRICT_MODE"}, "",
                                    "\"" + *strict + "\" is not one of true, 1, false, 0");
        } else if (*value) {
            // Only ever raises strictness: an inherited STRICT_MODE=false must not quietly
            // re-enable passthrough that the config file turned off.
            state.config.gateway.strict = true;
        }
    }
    if (auto prefix = state.env.get("TOKEN_PREFIX")) {
        if (auto problem = detail::token_prefix_problem(*prefix)) {
            state.diagnostics.error({"$TOKEN_PREFIX"}, "", "\"" + *prefix + "\" " + *problem);
        } else {
            state.config.token.prefix = *prefix;
        }
    }
}

void apply_directory_defaults(LoadState& state) {
    Config& config = state.config;
    const auto lookup = state.env.lookup();
    if (!state.data_dir_set) {
        auto dir = xdg::cloakroom_data_dir(lookup);
        if (dir.ok()) {
            config.data_dir = *dir;
        } else {
            state.diagnostics.error(
                kDefaults, "",
                "cannot choose a default [gateway] data_dir: " + dir.error().message);
        }
    }
    if (!state.key_dir_set && !config.data_dir.empty())
        config.token.key_dir = config.data_dir / "keys";
    // Audit records default to a private file (AuditSink creates it 0600; the data directory
    // exists, 0700, once the CA is there), not stdout: `serve &` in a shell stays readable.
    if (!state.audit_log_set && !config.data_dir.empty())
        config.gateway.audit_log = (config.data_dir / "audit.log").string();
    if (!state.sandbox_socket_set && !config.data_dir.empty())
        config.gateway.sandbox_socket = config.data_dir / "run" / "sandbox.sock";
    if (!state.admin_socket_set && !config.data_dir.empty())
        config.admin.socket = config.data_dir / "run" / "admin.sock";
    if (!state.public_dir_set && !config.data_dir.empty())
        config.gateway.public_dir = config.data_dir / "public";
    if (!state.secrets_dir_set) {
        auto dir = xdg::cloakroom_config_dir(lookup);
        if (dir.ok()) {
            config.secrets.dir = *dir / "secrets";
        } else {
            state.diagnostics.error(
                kDefaults, "", "cannot choose a default [secrets] dir: " + dir.error().message);
        }
    }
}

void check_validity(LoadState& state) {
    const TokenConfig& token = state.config.token;
    const SourceLocation& where = state.validity_set ? *state.validity_set : kDefaults;
    if (token.default_validity.count() <= 0) {
        state.diagnostics.error(where, "[token]", "default_validity must be longer than zero");
    } else if (token.max_validity.count() <= 0) {
        state.diagnostics.error(where, "[token]", "max_validity must be longer than zero");
    } else if (token.default_validity > token.max_validity) {
        state.diagnostics.error(where, "[token]",
                                "default_validity " + format_duration(token.default_validity) +
                                    " is longer than max_validity " +
                                    format_duration(token.max_validity));
    }
}

std::string lower_ascii(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    return text;
}

void check_services(LoadState& state) {
    std::map<std::string, const Service*> by_name;
    std::map<std::string, const Service*> by_host;
    for (const Service& service : state.config.services) {
        const std::string context = "service \"" + service.name + "\"";
        auto [named, fresh_name] = by_name.emplace(lower_ascii(service.name), &service);
        if (!fresh_name) {
            state.diagnostics.error(
                service.where, context,
                "a service with this name is already defined at " + named->second->where.text());
        }
        for (const std::string& host : service.hosts) {
            auto [owner, fresh_host] = by_host.emplace(host, &service);
            if (!fresh_host && owner->second != &service) {
                state.diagnostics.error(service.where, context,
                                        "host \"" + host + "\" already belongs to service \"" +
                                            owner->second->name + "\" (" +
                                            owner->second->where.text() + ")");
            }
        }
    }
    // Allowed hosts: one entry each, and none that a service owns (the service decides how
    // such a host is handled; credential hosts are never tunnelled blind).
    auto& allowed = state.config.allowed_hosts;
    for (const auto& host : state.allowed_hosts) {
        if (by_host.count(host.value) != 0 || contains(allowed, host.value)) continue;
        allowed.push_back(host.value);
    }
}

Result<Config> finish(LoadState& state) {
    apply_environment(state);
    apply_directory_defaults(state);
    check_validity(state);
    check_services(state);
    check_profiles(state);
    if (!state.diagnostics.empty()) return state.diagnostics.to_error();
    return std::move(state.config);
}

Result<std::string> read_file(const std::filesystem::path& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) {
        return make_error("config.io", "cannot read " + path.string() + ": no such file");
    }
    if (std::filesystem::is_directory(status)) {
        return make_error("config.io", "cannot read " + path.string() + ": it is a directory");
    }
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxFileSize) {
        return make_error("config.io", path.string() + " is larger than 4 MiB");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("config.io", "cannot open " + path.string());
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) return make_error("config.io", "error reading " + path.string());
    return content.str();
}

}  // namespace

namespace detail {

std::optional<std::string> token_prefix_problem(std::string_view prefix) {
    // The prefix is how the gateway tells its tokens from other credentials at a glance; it
    // travels in headers and URLs, so keep it to characters that need no escaping.
    if (prefix.empty() || prefix.size() > 32) return "must be 1-32 characters";
    const bool valid = std::all_of(prefix.begin(), prefix.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
    if (!valid) return "may only contain letters, digits, '_' and '-'";
    return std::nullopt;
}

}  // namespace detail

Result<Config> parse_config_string(std::string_view toml, std::string_view source_name,
                                   const Environment& env) {
    LoadState state(env);
    auto applied = apply_text(toml, std::string(source_name), std::nullopt, state);
    if (!applied.ok()) return applied.error();
    return finish(state);
}

Result<Config> load_config(const std::vector<std::filesystem::path>& files,
                           const Environment& env) {
    if (files.empty()) return make_error("config.io", "no configuration files given");
    LoadState state(env);
    for (const auto& file : files) {
        auto text = read_file(file);
        if (!text.ok()) return text.error();
        std::error_code ec;
        auto absolute = std::filesystem::absolute(file, ec);
        std::optional<std::filesystem::path> base_dir;
        if (!ec) base_dir = absolute.parent_path();
        auto applied = apply_text(*text, file.string(), std::move(base_dir), state);
        if (!applied.ok()) return applied.error();
    }
    return finish(state);
}

std::vector<std::filesystem::path> default_config_files(const Environment& env) {
    std::vector<std::filesystem::path> files;
    if (auto list = env.get("CLOAKROOM_CONFIG")) {
        std::size_t start = 0;
        while (start <= list->size()) {
            std::size_t end = list->find_first_of(":,", start);
            if (end == std::string::npos) end = list->size();
            if (end > start) files.emplace_back(list->substr(start, end - start));
            start = end + 1;
        }
        if (!files.empty()) return files;
    }
    auto dir = xdg::cloakroom_config_dir(env.lookup());
    if (dir.ok()) {
        std::error_code ec;
        auto file = *dir / "cloakroom.toml";
        if (std::filesystem::exists(file, ec)) files.push_back(std::move(file));
    }
    return files;
}

Result<Config> load_default_config(const Environment& env) {
    auto files = default_config_files(env);
    if (!files.empty()) return load_config(files, env);
    return parse_config_string(embedded_default_config(), kEmbeddedDefaultName, env);
}

}  // namespace cloakroom::config
