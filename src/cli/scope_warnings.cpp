#include "cli/scope_warnings.hpp"

#include <algorithm>

#include "config/authority.hpp"
#include "config/toml_reader.hpp"

namespace cloakroom::cli {
namespace {

std::string hint(const std::string& typo, const std::vector<std::string>& known) {
    auto close = config::detail::suggest(typo, known);
    return close ? " (did you mean " + *close + "?)" : "";
}

std::vector<std::string> service_host_names(const config::Config& config) {
    std::vector<std::string> names;
    for (const auto& service : config.services) {
        for (const auto& authority : service.hosts) {
            auto parsed = config::parse_authority(authority);
            names.push_back(parsed.ok() ? parsed->host : authority);
        }
    }
    return names;
}

}  // namespace

std::vector<std::string> scope_warnings(const CaveatFlags& flags, const config::Config& config) {
    std::vector<std::string> out;
    const auto hosts = service_host_names(config);
    for (const auto& host : flags.hosts) {
        // The hosts caveat compares the host alone (no port): a service on "h:8443" counts.
        auto parsed = config::parse_authority(host);
        const bool is_service_host =
            config.find_service(host) != nullptr ||
            (parsed.ok() && std::find(hosts.begin(), hosts.end(), parsed->host) != hosts.end());
        if (is_service_host) continue;
        if (config.is_allowed_host(host)) {
            out.push_back("--hosts " + host +
                          ": an [allow] host, not a service: Cloakroom injects no credential "
                          "there, so the token gives it nothing");
            continue;
        }
        out.push_back("--hosts " + host + ": no configured service has this host" +
                      hint(host, hosts) + "; the token cannot reach a credential there");
    }
    std::vector<std::string> databases;
    for (const auto& database : config.databases) databases.push_back(database.name);
    std::vector<const config::Database*> selected;
    for (const auto& name : flags.db_services) {
        if (const auto* database = config.find_database(name)) {
            selected.push_back(database);
        } else {
            out.push_back("--db " + name + ": no [[database]] has this name" +
                          hint(name, databases));
        }
    }
    if (flags.db_services.empty()) {
        for (const auto& database : config.databases) selected.push_back(&database);
    }
    std::vector<std::string> logins;
    for (const auto* database : selected) {
        for (const auto& login : database->logins) logins.push_back(login.name);
    }
    for (const auto& name : flags.db_logins) {
        if (std::find(logins.begin(), logins.end(), name) != logins.end()) continue;
        out.push_back("--db-login " + name + ": no login of that name in " +
                      (flags.db_services.empty() ? std::string("any [[database]]")
                                                 : std::string("the --db databases")) +
                      hint(name, logins));
    }
    return out;
}

}  // namespace cloakroom::cli
