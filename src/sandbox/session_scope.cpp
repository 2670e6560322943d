#include "sandbox/session_scope.hpp"

#include <algorithm>

#include "token/token.hpp"

namespace cloakroom::sandbox {
namespace {

void add_unique(std::vector<std::string>& list, const std::string& value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

}  // namespace

Result<SessionScope> session_scope(const config::Config& config,
                                   const std::vector<std::string>& names) {
    SessionScope scope;
    if (names.empty()) {
        scope.everything = true;
        for (const auto& service : config.services) {
            scope.services.push_back(service.name);
            for (const auto& name : service.token_env) add_unique(scope.token_env, name);
        }
        for (const auto& database : config.databases) {
            scope.databases.push_back(database.name);
            for (const auto& name : database.token_env) add_unique(scope.token_env, name);
        }
        return scope;
    }
    std::vector<std::string> hosts;
    for (const auto& name : names) {
        auto service = std::find_if(config.services.begin(), config.services.end(),
                                    [&](const auto& s) { return s.name == name; });
        if (service != config.services.end()) {
            add_unique(scope.services, name);
            for (const auto& host : service->hosts) add_unique(hosts, host);
            for (const auto& env : service->token_env) add_unique(scope.token_env, env);
            continue;
        }
        if (const auto* database = config.find_database(name)) {
            add_unique(scope.databases, name);
            for (const auto& env : database->token_env) add_unique(scope.token_env, env);
            continue;
        }
        std::string known;
        for (const auto& s : config.services) known += (known.empty() ? "" : ", ") + s.name;
        for (const auto& d : config.databases) known += (known.empty() ? "" : ", ") + d.name;
        return make_error("usage", "--service \"" + name +
                                       "\" is not a configured service or "
                                       "database (configured: " +
                                       (known.empty() ? std::string("none") : known) + ")");
    }
    if (!scope.services.empty() && !scope.databases.empty()) {
        return make_error("usage",
                          "--service names both HTTP services and databases; a token "
                          "limited to HTTP hosts cannot log in to a database and the "
                          "reverse: name one kind, or leave --service out (all)");
    }
    if (!hosts.empty()) scope.caveats.push_back(token::hosts_caveat(hosts));
    if (!scope.databases.empty())
        scope.caveats.push_back(token::db_services_caveat(scope.databases));
    return scope;
}

std::vector<token::Caveat> session_caveats(const SessionScope& scope, std::int64_t now,
                                           std::chrono::seconds lifetime) {
    auto caveats = scope.caveats;
    caveats.push_back(token::validity_caveat(now, now + lifetime.count()));
    return caveats;
}

}  // namespace cloakroom::sandbox
