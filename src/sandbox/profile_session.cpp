#include "sandbox/profile_session.hpp"

#include <algorithm>

namespace cloakroom::sandbox {
namespace {

void add_unique(std::vector<std::string>& list, const std::string& value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

std::string lower(std::string text) {
    for (auto& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

Result<std::vector<std::filesystem::path>> expand(const std::vector<std::string>& paths,
                                                  const std::string& home,
                                                  const std::string& profile) {
    std::vector<std::filesystem::path> out;
    for (const auto& p : paths) {
        if (!p.empty() && p[0] == '~' && home.empty()) {
            return make_error("usage", "profile \"" + profile + "\": " + p +
                                           " needs a home directory ($HOME is not set)");
        }
        std::filesystem::path expanded = config::expand_home(p, home);
        if (!expanded.is_absolute()) {
            return make_error("usage",
                              "profile \"" + profile + "\": " + p + " is not an absolute path");
        }
        out.push_back(expanded.lexically_normal());
    }
    return out;
}

}  // namespace

Result<ProfileSession> profile_session(const config::Config& config, const config::Profile& profile,
                                       const std::string& home) {
    ProfileSession session;
    auto reach = [&](const std::string& host) {
        // A service host gets the service's treatment anyway; an allowed one is reachable.
        if (config.find_service(host) != nullptr || config.is_allowed_host(host)) return;
        add_unique(session.extra_hosts, lower(host));
    };
    if (profile.services) {
        session.services_set = true;
        for (const auto& entry : *profile.services) {
            const bool is_service = std::any_of(config.services.begin(), config.services.end(),
                                                [&](const auto& s) { return s.name == entry; });
            if (is_service || config.find_database(entry) != nullptr) {
                add_unique(session.services, entry);
            } else if (const auto* owner = config.find_service(entry)) {
                add_unique(session.services, owner->name);
            } else if (entry.find('.') != std::string::npos) {
                reach(entry);  // a model API without a configured credential
            } else {
                std::string known;
                for (const auto& s : config.services) known += (known.empty() ? "" : ", ") + s.name;
                for (const auto& d : config.databases)
                    known += (known.empty() ? "" : ", ") + d.name;
                return make_error("usage", "profile \"" + profile.name + "\": service \"" + entry +
                                               "\" is neither a configured service or database "
                                               "nor a host name (configured: " +
                                               (known.empty() ? std::string("none") : known) + ")");
            }
        }
    }
    for (const auto& host : profile.allowed_hosts) reach(host);
    auto hidden = expand(profile.hidden_paths, home, profile.name);
    if (!hidden.ok()) return hidden.error();
    session.hidden = std::move(*hidden);
    auto writable = expand(profile.writable_paths, home, profile.name);
    if (!writable.ok()) return writable.error();
    session.writable = std::move(*writable);
    return session;
}

}  // namespace cloakroom::sandbox
