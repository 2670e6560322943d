#include "proxy/route_reverse.hpp"

#include <algorithm>

#include "config/authority.hpp"
#include "policy/request_path.hpp"

namespace cloakroom::proxy {
namespace {

constexpr std::string_view kLocalhostSuffix = ".localhost";

ReverseRoute deny(unsigned status, std::string error, std::string reason) {
    ReverseRoute out;
    out.route.kind = RouteKind::Deny;
    out.route.status = status;
    out.route.error = std::move(error);
    out.route.reason = std::move(reason);
    return out;
}

const config::Service* find_service(const config::Config& config, std::string_view name) {
    for (const auto& candidate : config.services) {
        if (candidate.name == name) return &candidate;
    }
    return nullptr;
}

bool is_ip_literal(const config::Authority& authority) {
    if (authority.is_ipv6()) return true;
    return std::all_of(authority.host.begin(), authority.host.end(),
                       [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

}  // namespace

const config::Service* service_named_by_authority(const config::Config& config,
                                                  std::string_view host_field) {
    if (host_field.empty()) return nullptr;
    // parse_authority lower-cases the host and drops a trailing dot: "Stripe.LOCALHOST." is
    // "stripe.localhost", matched against names as written (names are case-sensitive, so a
    // service whose name has capitals is reached by its path prefix only).
    auto authority = config::parse_authority(host_field);
    if (!authority.ok() || is_ip_literal(*authority) || authority->host == "localhost") {
        return nullptr;  // the listener's own address: the path names the service
    }
    std::string_view host = authority->host;
    if (host.size() > kLocalhostSuffix.size() && host.ends_with(kLocalhostSuffix)) {
        // Only the label(s) before ".localhost" name the service: a service literally named
        // "x.localhost" is never reached this way, so the two forms cannot disagree.
        return find_service(config, host.substr(0, host.size() - kLocalhostSuffix.size()));
    }
    return find_service(config, host);
}

ReverseRoute route_reverse(const config::Config& config, std::string_view target,
                           std::string_view host_field) {
    if (target.empty() || target.front() != '/') {
        return deny(400, "bad_request",
                    "the reverse listener takes origin-form targets: /<service>/<path>");
    }
    auto normalized = policy::normalize_target(target);
    if (!normalized.ok()) return deny(400, "bad_request", normalized.error().message);
    const std::string& path = normalized->path;

    const config::Service* service = service_named_by_authority(config, host_field);
    const bool by_authority = service != nullptr;
    std::string name;
    std::size_t end = std::string::npos;
    if (by_authority) {
        name = service->name;
    } else {
        end = path.find('/', 1);
        name = path.substr(1, end == std::string::npos ? std::string::npos : end - 1);
        if (name.empty()) {
            return deny(404, "service_not_found",
                        "the reverse listener needs the service name first: /<service>/<path>, "
                        "or an authority <service>.localhost");
        }
        service = find_service(config, name);
        if (service == nullptr) {
            return deny(404, "service_not_found",
                        "no service named '" + name +
                            "' (base URLs are /<service name>/..., or the authority "
                            "<service name>.localhost with the path unchanged)");
        }
    }
    if (service->hosts.empty()) {
        return deny(403, "host_not_configured", "service '" + name + "' has no host");
    }
    auto authority = config::parse_authority(service->hosts.front());
    if (!authority.ok()) {
        return deny(403, "host_not_configured",
                    "service '" + name + "': " + authority.error().message);
    }

    ReverseRoute out;
    out.by_authority = by_authority;
    out.route.kind = RouteKind::Intercept;
    out.route.service = service;
    out.route.host = authority->host;
    out.route.port = authority->port.value_or(443);
    if (by_authority) {
        out.route.reason = "reverse base URL, authority names service " + name;
        out.target = path;
    } else {
        out.route.reason = "reverse base URL /" + name;
        out.target = end == std::string::npos ? "/" : path.substr(end);
    }
    if (normalized->has_query) out.target += "?" + normalized->query;
    return out;
}

}  // namespace cloakroom::proxy
