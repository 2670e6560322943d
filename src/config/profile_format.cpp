// [profile.NAME] tables of cloakroom.toml, and the profile an agent-creds agent-creds.toml
// defines with [sandbox] name (docs/sandbox.md, "Profiles"). Cross-file checks (one definition
// per name, extends chains) are check_profiles, run once every file is in.
#include <algorithm>

#include "config/load_state.hpp"
#include "config/profile.hpp"

namespace cloakroom::config::detail {
namespace {

bool is_profile_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

// Absolute, or under $HOME ("~/..."): a relative path would depend on where `cloakroom run`
// starts.
std::optional<std::vector<std::string>> read_paths(TableReader& reader, std::string_view key) {
    auto list = reader.strings(key);
    if (!list) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (const auto& entry : *list) {
        const auto& p = entry.value;
        if (p.empty() || (p[0] != '/' && p != "~" && p.rfind("~/", 0) != 0)) {
            reader.diagnostics().error(
                entry.where, reader.context(),
                std::string(key) + ": \"" + p + "\" must be an absolute path or start with ~/");
            ok = false;
            continue;
        }
        out.push_back(p);
    }
    if (!ok) return std::nullopt;
    return out;
}

void apply_profile(const std::string& name, const toml::table& table, const Document& document,
                   LoadState& state) {
    const std::string context = "[profile." + name + "]";
    TableReader reader(table, document.file, context, state.diagnostics);
    ProfileSpec spec;
    spec.name = name;
    spec.where = location(document.file, table.source());
    bool ok = true;
    if (!is_profile_name(name)) {
        reader.error("profile name \"" + name + "\" must be 1-64 letters, digits, '-', '_' or '.'");
        ok = false;
    }
    if (auto extends = reader.string("extends")) spec.extends = extends->value;
    if (auto services = reader.strings("services")) {
        spec.services.emplace();
        for (const auto& s : *services) spec.services->push_back(s.value);
    }
    if (auto hosts = reader.strings("allowed_hosts")) {
        spec.allowed_hosts.emplace();
        for (const auto& host : *hosts) {
            if (auto normalized = check_host(reader, host)) {
                spec.allowed_hosts->push_back(*normalized);
            } else {
                ok = false;
            }
        }
    }
    if (table.get("hidden_paths") != nullptr) {
        spec.hidden_paths = read_paths(reader, "hidden_paths");
        ok = ok && spec.hidden_paths.has_value();
    }
    if (table.get("writable_paths") != nullptr) {
        spec.writable_paths = read_paths(reader, "writable_paths");
        ok = ok && spec.writable_paths.has_value();
    }
    if (auto contain = reader.string("contain")) {
        if (contain->value != "auto" && contain->value != "netns" && contain->value != "landlock") {
            reader.error("contain",
                         "contain \"" + contain->value + "\" is not one of auto, netns, landlock");
            ok = false;
        }
        spec.contain = contain->value;
    }
    if (table.get("valid_for") != nullptr) {
        spec.valid_for = read_duration(reader, "valid_for");
        if (!spec.valid_for || spec.valid_for->count() <= 0) {
            if (spec.valid_for) reader.error("valid_for", "valid_for must be at least 1s");
            ok = false;
        }
    }
    reader.finish();
    if (ok) state.config.profiles.push_back(std::move(spec));
}

}  // namespace

void apply_profiles(const toml::table& profiles, const Document& document, LoadState& state) {
    for (auto&& [key, value] : profiles) {
        const std::string name(key.str());
        if (!value.is_table()) {
            state.diagnostics.error(location(document.file, value.source()),
                                    "[profile." + name + "]",
                                    "must be a table, not " + std::string(type_name(value)));
            continue;
        }
        apply_profile(name, *value.as_table(), document, state);
    }
}

void apply_agent_creds_sandbox(const toml::table& sandbox, const std::vector<std::string>& hosts,
                               const Document& document, LoadState& state) {
    const toml::node* name = sandbox.get("name");
    if (name == nullptr) return;  // a sandbox without a name defines no profile
    // agent-creds names its container with it; a name that cannot be a profile name only means
    // there is no profile (the file still loads, as it did before profiles existed).
    if (!name->is_string() || !is_profile_name(name->as_string()->get())) return;
    ProfileSpec spec;
    spec.name = name->as_string()->get();
    spec.where = location(document.file, sandbox.source());
    // agent-creds' upstreams are what its sandbox reaches; each one a configured service owns
    // (a vault credential) gets the token, the others are merely reachable.
    spec.services = hosts;
    state.config.profiles.push_back(std::move(spec));
}

void check_profiles(LoadState& state) {
    auto& profiles = state.config.profiles;
    for (std::size_t i = 0; i < profiles.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (profiles[j].name == profiles[i].name) {
                state.diagnostics.error(profiles[i].where, "[profile." + profiles[i].name + "]",
                                        "profile \"" + profiles[i].name +
                                            "\" is already defined (" + profiles[j].where.text() +
                                            ")");
            }
        }
    }
    for (const auto& profile : profiles) {
        auto resolved = resolve_profile(profile.name, profiles);
        if (!resolved.ok()) {
            state.diagnostics.error(profile.where, "[profile." + profile.name + "]",
                                    resolved.error().message);
        }
    }
}

}  // namespace cloakroom::config::detail
