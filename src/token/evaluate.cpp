#include "token/evaluate.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "policy/path_pattern.hpp"
#include "policy/request_path.hpp"
#include "token/host_caveat.hpp"
#include "token/text.hpp"

namespace cloakroom::token {
namespace {

using detail::list_text;
using detail::quote;

std::string ascii_lower(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

std::string ascii_upper(std::string s) {
    for (char& c : s) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
}

std::string time_text(std::int64_t t) {
    auto text = detail::rfc3339_utc(t);
    return text ? *text : std::to_string(t) + " (unix)";
}

bool any_equal(const std::optional<std::vector<std::string>>& list, const std::string& value,
               std::string (*fold)(std::string)) {
    if (!list) return false;
    for (const auto& entry : *list) {
        if (fold(entry) == value) return true;
    }
    return false;
}

// The request path as caveats see it, normalized once per evaluation.
struct PathView {
    bool normalized_ok = false;
    std::string path;   // normalized path (no query) when normalized_ok
    std::string error;  // normalization error otherwise
};

PathView normalize(const std::string& raw) {
    auto target = policy::normalize_target(raw);
    if (!target) return {false, {}, target.error().message};
    return {true, target->path, {}};
}

bool path_allowed(const Paths& caveat, const PathView& view) {
    if (!view.normalized_ok || !caveat.patterns) return false;
    for (const auto& text : *caveat.patterns) {
        // A pattern Cloakroom cannot compile (e.g. empty, or not starting with '/') could never
        // match a normalized path under agent-creds' rules either; it simply matches nothing.
        auto pattern = policy::PathPattern::compile(text);
        if (pattern && pattern->matches(view.path)) return true;
    }
    return false;
}

std::string bad_caveat(std::uint64_t type) {
    char type_hex[32];
    std::snprintf(type_hex, sizeof type_hex, "0x%llx", static_cast<unsigned long long>(type));
    return std::string("bad caveat ") + std::string(caveat_type_name(type)) + " (type " + type_hex +
           ")";
}

std::string limited_to(std::string_view what, const std::optional<std::vector<std::string>>& list) {
    return "token is limited to " + std::string(what) + " " + list_text(list);
}

bool any_exact(const std::optional<std::vector<std::string>>& list, const std::string& value) {
    if (!list) return false;
    for (const auto& entry : *list) {
        if (entry == value) return true;
    }
    return false;
}

// What every kind of request shares. Each check below is exhaustive over Caveat (std::visit),
// so a new caveat type must decide what it means for HTTP requests and for database logins.
struct CommonCheck {
    std::int64_t time_unix = 0;
    using Denial = std::optional<std::string>;

    Denial operator()(const ValidityWindow& c) const {
        if (time_unix < c.not_before) return "token not valid until " + time_text(c.not_before);
        if (time_unix > c.not_after) return "token only valid until " + time_text(c.not_after);
        return std::nullopt;
    }
    // Marker inside 3P tickets; the discharge's existence is the attestation.
    Denial operator()(const Attestation&) const { return std::nullopt; }
    // Not an access condition: the limiter enforces it (usage_limits).
    Denial operator()(const UsageLimits&) const { return std::nullopt; }
    // Signature verification consumes 3P and BindToParentToken; should they ever be evaluated
    // they deny, like types this verifier does not know.
    Denial operator()(const ThirdParty&) const { return bad_caveat(kTypeThirdParty); }
    Denial operator()(const BindToParent&) const { return bad_caveat(kTypeBindToParent); }
    Denial operator()(const UnknownCaveat& c) const { return bad_caveat(c.type); }
};

// One HTTP request against one caveat; nullopt = allowed.
struct HttpCheck : CommonCheck {
    using CommonCheck::operator();
    const AccessRequest& request;
    const RoutedHost& host;
    const std::string& method;  // upper-cased
    std::optional<PathView>& path_view;

    Denial operator()(const Hosts& c) const {
        if (c.hosts) {
            for (const auto& entry : *c.hosts) {
                if (host_entry_allows(entry, host)) return std::nullopt;
            }
        }
        std::string reason =
            "host " + quote(host.text()) + " not in allowed list " + list_text(c.hosts);
        if (host.port_keyed && c.hosts) {
            for (const auto& entry : *c.hosts) {
                ParsedHost parsed;
                if (parse_host_port(entry, parsed) && parsed.host == host.host &&
                    parsed.port == 0) {
                    reason += " (port " + std::to_string(host.port) +
                              " is a service of its own: a token for it names " +
                              quote(host.text()) + ")";
                    break;
                }
            }
        }
        return reason;
    }
    Denial operator()(const Methods& c) const {
        if (any_equal(c.methods, method, ascii_upper)) return std::nullopt;
        return "method " + quote(method) + " not in allowed list " + list_text(c.methods);
    }
    Denial operator()(const Paths& c) const {
        if (!path_view) path_view = normalize(request.path);
        if (!path_view->normalized_ok) {
            return "path " + quote(request.path) + " cannot be checked against allowed patterns " +
                   list_text(c.patterns) + ": " + path_view->error;
        }
        if (path_allowed(c, *path_view)) return std::nullopt;
        return "path " + quote(path_view->path) + " does not match allowed patterns " +
               list_text(c.patterns);
    }
    // Database caveats: the token is meant for database logins only.
    Denial operator()(const DbServices& c) const { return limited_to("databases", c.services); }
    Denial operator()(const DbLogins& c) const { return limited_to("database logins", c.logins); }
    Denial operator()(const DbNames& c) const { return limited_to("database names", c.names); }
    Denial operator()(const DbCommands& c) const {
        return limited_to("Redis commands", c.commands);
    }
};

// One database login against one caveat; nullopt = allowed.
struct DbCheck : CommonCheck {
    using CommonCheck::operator();
    const DbAccessRequest& request;

    // HTTP caveats: the token is meant for HTTP requests only.
    Denial operator()(const Hosts& c) const { return limited_to("HTTP hosts", c.hosts); }
    Denial operator()(const Methods& c) const { return limited_to("HTTP methods", c.methods); }
    Denial operator()(const Paths& c) const { return limited_to("HTTP paths", c.patterns); }
    Denial operator()(const DbServices& c) const {
        if (any_exact(c.services, request.service)) return std::nullopt;
        return "database " + quote(request.service) + " not in allowed list " +
               list_text(c.services);
    }
    Denial operator()(const DbLogins& c) const {
        if (any_exact(c.logins, request.login)) return std::nullopt;
        return "login " + quote(request.login) + " not in allowed list " + list_text(c.logins);
    }
    Denial operator()(const DbNames& c) const {
        // Even a "" entry does not allow a login without a database: the server would pick a
        // default one (often the user name) that the caveat cannot see.
        if (request.database.empty()) {
            return "login names no database, but the token is limited to database names " +
                   list_text(c.names);
        }
        if (any_exact(c.names, request.database)) return std::nullopt;
        return "database name " + quote(request.database) + " not in allowed list " +
               list_text(c.names);
    }
    Denial operator()(const DbCommands& c) const {
        // Enforced per command by the Redis session (command_lists).
        if (request.protocol == "redis") return std::nullopt;
        return limited_to("Redis commands", c.commands) + ", which cannot be enforced on a " +
               quote(request.protocol) + " login (command limits only work for Redis)";
    }
};

template <class Check>
std::vector<std::string> evaluate_with(const std::vector<Caveat>& caveats, const Check& check) {
    std::vector<std::string> denials;
    for (const auto& caveat : caveats) {
        if (auto denial = std::visit(check, caveat)) denials.push_back(std::move(*denial));
    }
    return denials;
}

}  // namespace

std::vector<std::string> evaluate_caveats(const std::vector<Caveat>& caveats,
                                          const AccessRequest& request) {
    RoutedHost host{ascii_lower(request.host), request.port, request.port_keyed};
    // A caller with routing information (the gateway: port set) passes the route's host, already
    // normalized by the same parser; only a host given as text (port 0) is parsed, per request
    // otherwise.
    if (ParsedHost parsed; request.port == 0 && parse_host_port(request.host, parsed)) {
        host.host = parsed.host;
        // A caller without routing information that wrote a port into the host text: as in
        // agent-creds, which compares the authority exactly, only an entry naming that port
        // allows it (a bare entry may belong to another service).
        if (host.port == 0 && parsed.port != 0) {
            host.port = parsed.port;
            host.port_keyed = true;
        }
    }
    const std::string method = ascii_upper(request.method);
    std::optional<PathView> path_view;
    return evaluate_with(caveats, HttpCheck{{request.time_unix}, request, host, method, path_view});
}

std::vector<std::string> evaluate_caveats(const std::vector<Caveat>& caveats,
                                          const DbAccessRequest& request) {
    return evaluate_with(caveats, DbCheck{{request.time_unix}, request});
}

std::vector<std::vector<std::string>> command_lists(const std::vector<Caveat>& caveats) {
    std::vector<std::vector<std::string>> lists;
    for (const auto& caveat : caveats) {
        if (const auto* commands = std::get_if<DbCommands>(&caveat)) {
            lists.push_back(commands->commands.value_or(std::vector<std::string>{}));
        }
    }
    return lists;
}

std::vector<UsageLimits> usage_limits(const std::vector<Caveat>& caveats) {
    std::vector<UsageLimits> limits;
    for (const auto& caveat : caveats) {
        const auto* found = std::get_if<UsageLimits>(&caveat);
        if (found == nullptr) continue;
        const bool limits_something =
            found->rate_count != 0 || found->concurrency != 0 || found->budget != 0;
        if (limits_something && std::find(limits.begin(), limits.end(), *found) == limits.end())
            limits.push_back(*found);
    }
    return limits;
}

std::optional<std::int64_t> expiry(const std::vector<Caveat>& caveats) {
    std::optional<std::int64_t> earliest;
    for (const auto& caveat : caveats) {
        if (const auto* window = std::get_if<ValidityWindow>(&caveat)) {
            if (!earliest || window->not_after < *earliest) earliest = window->not_after;
        }
    }
    return earliest;
}

std::string validity_denial(const std::vector<Caveat>& caveats, std::int64_t time_unix) {
    std::vector<Caveat> windows;
    for (const auto& caveat : caveats) {
        if (std::holds_alternative<ValidityWindow>(caveat)) windows.push_back(caveat);
    }
    AccessRequest request;
    request.time_unix = time_unix;
    const auto denials = evaluate_caveats(windows, request);
    return denials.empty() ? std::string() : denials.front();
}

}  // namespace cloakroom::token
