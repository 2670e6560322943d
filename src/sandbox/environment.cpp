#include "sandbox/environment.hpp"

#include <algorithm>
#include <array>

namespace cloakroom::sandbox {
namespace {

std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

// Secrets shorter than this are only matched as a whole value: "on" or "1" as a substring
// would remove half the environment and prove nothing.
constexpr std::size_t kSubstringMinimum = 4;

bool holds_secret(std::string_view value, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
        if (secret.empty()) continue;
        if (value == secret) return true;
        if (secret.size() >= kSubstringMinimum && value.find(secret) != std::string_view::npos)
            return true;
    }
    return false;
}

}  // namespace

bool names_credential(std::string_view name) {
    const std::string n = upper(name);
    static constexpr std::array<std::string_view, 14> suffixes = {
        "_API_KEY",           "_APIKEY",       "_TOKEN",       "_SECRET",
        "_SECRET_KEY",        "_PASSWORD",     "_PASSWD",      "_PASS",
        "_ACCESS_KEY",        "_PRIVATE_KEY",  "_CREDENTIALS", "_AUTH",
        "_SECRET_ACCESS_KEY", "_SESSION_TOKEN"};
    static constexpr std::array<std::string_view, 5> prefixes = {
        "AWS_", "AZURE_", "GOOGLE_APPLICATION_CREDENTIALS", "VAULT_", "CLOAKROOM_"};
    static constexpr std::array<std::string_view, 18> exact = {"GITHUB_TOKEN",
                                                               "GH_TOKEN",
                                                               "GITLAB_TOKEN",
                                                               "NPM_TOKEN",
                                                               "TOKEN",
                                                               "API_KEY",
                                                               "APIKEY",
                                                               "PASSWORD",
                                                               "SECRET",
                                                               "MACAROON_SIGNING_KEY",
                                                               "PGPASSWORD",
                                                               "MYSQL_PWD",
                                                               "REDISCLI_AUTH",
                                                               "DATABASE_URL",
                                                               "SSH_AUTH_SOCK",
                                                               "GPG_AGENT_INFO",
                                                               "DBUS_SESSION_BUS_ADDRESS",
                                                               "KRB5CCNAME"};
    for (auto s : suffixes) {
        if (ends_with(n, s)) return true;
    }
    for (auto p : prefixes) {
        if (starts_with(n, p)) return true;
    }
    return std::find(exact.begin(), exact.end(), n) != exact.end();
}

Environment sandbox_environment(const EnvironmentInputs& inputs) {
    Environment out;
    auto named = [](const std::vector<std::string>& names, std::string_view name) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    auto in_gateway = [&](std::string_view name) {
        return std::any_of(inputs.gateway.begin(), inputs.gateway.end(),
                           [&](const auto& v) { return v.first == name; });
    };
    for (const auto& [name, value] : inputs.host) {
        if (name.empty() || name.find('=') != std::string::npos) continue;
        const bool replaced =
            in_gateway(name) || (!inputs.token.empty() && named(inputs.token_env, name));
        if (replaced) continue;  // set below with the gateway's value or the token
        if (names_credential(name) || named(inputs.secret_env, name) ||
            holds_secret(value, inputs.secret_values)) {
            out.removed.push_back(name);
            continue;
        }
        out.variables.emplace_back(name, value);
    }
    for (const auto& variable : inputs.gateway) out.variables.push_back(variable);
    if (!inputs.token.empty()) {
        for (const auto& name : inputs.token_env) {
            auto same = [&](const auto& v) { return v.first == name; };
            if (std::any_of(out.variables.begin(), out.variables.end(), same)) continue;
            out.variables.emplace_back(name, inputs.token);
        }
    }
    return out;
}

std::vector<std::string> envp_strings(const Variables& variables) {
    std::vector<std::string> out;
    out.reserve(variables.size());
    for (const auto& [name, value] : variables) out.push_back(name + "=" + value);
    return out;
}

}  // namespace cloakroom::sandbox
