#include "proxy/route.hpp"

#include <charconv>

#include "util/ascii.hpp"

#include "config/authority.hpp"

namespace cloakroom::proxy {
namespace {

Route deny(unsigned status, std::string error, std::string reason) {
    Route route;
    route.status = status;
    route.error = std::move(error);
    route.reason = std::move(reason);
    return route;
}

// The shared part of both entry points, once the target has a port.
Route decide(const config::Config& config, const config::Authority& target) {
    const std::string text = target.text();
    Route route;
    route.host = target.host;
    route.port = *target.port;
    // Services first: a host that belongs to a service must be inspected, whatever [allow] says
    // (invariant 3). The loader already drops such hosts from [allow]; this order does not rely
    // on it.
    if (const config::Service* service = config.find_service(text)) {
        route.kind = RouteKind::Intercept;
        route.service = service;
        route.reason = "service '" + service->name + "'";
        return route;
    }
    if (config.is_allowed_host(text)) {
        route.kind = RouteKind::Tunnel;
        route.reason = "allowed host";
        return route;
    }
    return deny(403, "host_not_configured",
                "host '" + text +
                    "' is not configured in Cloakroom; only configured services and [allow] "
                    "hosts can be reached");
}

}  // namespace

std::string Route::authority() const {
    return config::Authority{host, port}.text();
}

token::RoutedHost Route::token_host() const {
    // Config::find_service gives a "host:port" key precedence; the same exact text here tells
    // whether that is what owns this route.
    // Per request, so compared in place instead of building the "host:port" text.
    bool port_keyed = false;
    if (service != nullptr) {
        char digits[8];
        const auto written = std::to_chars(digits, digits + sizeof digits, port);
        const std::string_view port_text(digits, static_cast<std::size_t>(written.ptr - digits));
        for (const std::string& key : service->hosts) {
            const std::string_view text = key;
            const std::size_t colon = text.rfind(':');
            if (colon == std::string_view::npos || text.substr(colon + 1) != port_text) continue;
            std::string_view named = text.substr(0, colon);
            if (named.size() >= 2 && named.front() == '[' && named.back() == ']') {
                named = named.substr(1, named.size() - 2);
            }
            port_keyed = port_keyed || named == host;
        }
    }
    return token::RoutedHost{host, port, port_keyed};
}

Route route_connect(const config::Config& config, std::string_view authority) {
    auto target = config::parse_authority(authority);
    if (!target.ok()) {
        return deny(400, "bad_request", "invalid CONNECT target: " + target.error().message);
    }
    if (!target->port) {
        return deny(400, "bad_request",
                    "CONNECT target '" + target->text() + "' needs a port (host:port)");
    }
    return decide(config, *target);
}

Route route_again(const config::Config& config, const Route& before) {
    Route route = route_connect(config, before.authority());
    if (route.kind == RouteKind::Tunnel) {
        route = deny(421, "misdirected_request",
                     "the configuration changed: host '" + before.host +
                         "' is no longer a service, so it is not inspected on this connection; "
                         "open a new connection");
    }
    if (route.host.empty()) {  // a refusal names the host the connection is for, in the audit too
        route.host = before.host;
        route.port = before.port;
    }
    return route;
}

Route route_absolute(const config::Config& config, std::string_view scheme,
                     std::string_view authority) {
    if (ascii_iequals(scheme, "https")) {
        return deny(400, "bad_request",
                    "https:// URLs must be requested through CONNECT (set HTTPS_PROXY), not as an "
                    "absolute-form request");
    }
    if (!ascii_iequals(scheme, "http")) {
        return deny(400, "bad_request", "only http:// URLs can be requested in absolute form");
    }
    auto target = config::parse_authority(authority);
    if (!target.ok()) {
        return deny(400, "bad_request", "invalid request URL host: " + target.error().message);
    }
    if (!target->port) target->port = 80;
    Route route = decide(config, *target);
    if (route.kind == RouteKind::Intercept && route.service->credential) {
        return deny(403, "https_required",
                    "host '" + route.host +
                        "' has a credential in Cloakroom and is only reachable over HTTPS; use "
                        "https://" +
                        config::Authority{route.host, std::nullopt}.text() + "/ instead");
    }
    return route;
}

std::optional<std::string> check_host_header(const Route& route, std::string_view host_header) {
    if (host_header.empty()) return std::nullopt;
    // The usual case, decided without parsing: the Host header is the route's host as it is
    // (already a parsed, canonical name). Not for IPv6 literals, whose Host form has brackets.
    if (host_header == route.host && route.host.find(':') == std::string::npos) {
        return std::nullopt;
    }
    auto named = config::parse_authority(host_header);
    if (!named.ok()) {
        return "the Host header is not a valid host; this connection is for " + route.authority();
    }
    if (named->host != route.host || (named->port && *named->port != route.port)) {
        return "this connection is for " + route.authority() + " but the Host header names " +
               named->text() + "; open a separate connection for each host";
    }
    return std::nullopt;
}

}  // namespace cloakroom::proxy
