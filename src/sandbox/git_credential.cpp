#include "sandbox/git_credential.hpp"

#include <algorithm>
#include <cstdlib>

namespace cloakroom::sandbox {
namespace {

// Quoted for the shell git runs a helper with.
std::string shell_quote(std::string_view text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

bool has_line(std::string_view text, std::string_view line) {
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        if (text.substr(start, end - start) == line) return true;
        start = end + 1;
    }
    return false;
}

}  // namespace

std::vector<GitHost> session_git_hosts(const config::Config& config,
                                       const std::vector<std::string>& services) {
    std::vector<GitHost> out;
    for (const auto& service : config.services) {
        if (std::find(services.begin(), services.end(), service.name) == services.end()) continue;
        auto username = config::git_credential_username(service);
        if (!username) continue;
        for (const auto& host : service.hosts) {
            const std::string& h = host;  // normalized: "host" or "host:port", as in a URL
            bool seen =
                std::any_of(out.begin(), out.end(), [&](const auto& g) { return g.host == h; });
            if (!seen) out.push_back({h, *username});
        }
    }
    return out;
}

Variables git_config_variables(const std::vector<GitHost>& hosts, const std::string& helper,
                               const Variables& host) {
    Variables out;
    if (hosts.empty()) return out;
    long existing = 0;
    for (const auto& [name, value] : host) {
        if (name != "GIT_CONFIG_COUNT") continue;
        char* end = nullptr;
        existing = std::strtol(value.c_str(), &end, 10);
        if (end == value.c_str() || *end != '\0' || existing < 0 || existing > 1000) existing = 0;
    }
    long n = existing;
    auto add = [&](const std::string& key, const std::string& value) {
        out.emplace_back("GIT_CONFIG_KEY_" + std::to_string(n), key);
        out.emplace_back("GIT_CONFIG_VALUE_" + std::to_string(n), value);
        ++n;
    };
    for (const auto& git : hosts) {
        const std::string key = "credential.https://" + git.host + ".helper";
        add(key, "");  // an empty helper resets the list: the user's helpers are not asked
        // "!": git runs the rest with the shell (and appends the action), so the quoted path
        // may hold any character; without it git would take a leading quote for a helper name.
        add(key,
            "!" + shell_quote(helper) + " git-credential --username " + shell_quote(git.username));
    }
    out.emplace_back("GIT_CONFIG_COUNT", std::to_string(n));
    return out;
}

std::string answer_git_credential(std::string_view action, std::string_view input,
                                  std::string_view username, std::string_view token) {
    if (action != "get" || token.empty() || username.empty()) return "";
    // The token only ever goes to the gateway over TLS; git asks per protocol.
    if (!has_line(input, "protocol=https")) return "";
    std::string out;
    out += "username=";
    out += username;
    out += "\npassword=";
    out += token;
    out += "\n";
    return out;
}

}  // namespace cloakroom::sandbox
