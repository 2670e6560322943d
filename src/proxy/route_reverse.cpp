#include "proxy/route_reverse.hpp"

#include "config/authority.hpp"
#include "policy/request_path.hpp"

namespace cloakroom::proxy {
namespace {

ReverseRoute deny(unsigned status, std::string error, std::string reason) {
    ReverseRoute out;
    out.route.kind = RouteKind::Deny;
    out.route.status = status;
    out.route.error = std::move(error);
    out.route.reason = std::move(reason);
    return out;
}

}  // namespace

ReverseRoute route_reverse(const config::Config& config, std::string_view target) {
    if (target.empty() || target.front() != '/') {
        return deny(400, "bad_request",
                    "the reverse listener takes origin-form targets: /<service>/<path>");
    }
    auto normalized = policy::normalize_target(target);
    if (!normalized.ok()) return deny(400, "bad_request", normalized.error().message);
    const std::string& path = normalized->path;
    const std::size_t end = path.find('/', 1);
    const std::string name = path.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    if (name.empty()) {
        return deny(404, "service_not_found",
                    "the reverse listener needs the service name first: /<service>/<path>");
    }
    const config::Service* service = nullptr;
    for (const auto& candidate : config.services) {
        if (candidate.name == name) service = &candidate;
    }
    if (service == nullptr) {
        return deny(404, "service_not_found",
                    "no service named '" + name + "' (base URLs are /<service name>/...)");
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
    out.route.kind = RouteKind::Intercept;
    out.route.service = service;
    out.route.host = authority->host;
    out.route.port = authority->port.value_or(443);
    out.route.reason = "reverse base URL /" + name;
    out.target = end == std::string::npos ? "/" : path.substr(end);
    if (normalized->has_query) out.target += "?" + normalized->query;
    return out;
}

}  // namespace cloakroom::proxy
