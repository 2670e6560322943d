// Reverse base-URL routing: on the reverse listener an agent's base URL is
// "http://127.0.0.1:PORT/<service>", so "GET /stripe/v1/customers?limit=3" is service "stripe",
// forwarded as "GET /v1/customers?limit=3" to the service's first host over verified TLS. The
// whole target is normalized FIRST and the service taken from the normalized path, so dot
// segments or encoded slashes can never pick one service and reach another's path.
//
// A client that cannot add a path prefix (gRPC: "/pkg.Service/Method") names the service in its
// authority instead (docs/configuration.md, `reverse_listen`): a Host / `:authority` whose host
// part is "<service>.localhost" (RFC 6761) or exactly a service's name picks that service and
// the normalized path goes upstream unchanged. "localhost" itself, IP literals and names of no
// service leave the choice to the path, as before, so one request never names two services by
// two rules: the authority, when it names a service, is the only one consulted. Pure.
#pragma once

#include <string>
#include <string_view>

#include "config/model.hpp"
#include "proxy/route.hpp"

namespace cloakroom::proxy {

struct ReverseRoute {
    // Intercept with the service and its upstream host/port, or Deny with status/error/reason
    // (400 bad target, 404 no such service, 403 service without a usable host).
    Route route;
    std::string target;         // origin-form for upstream: the normalized path (without the prefix
                                // when the path chose the service) + query
    bool by_authority = false;  // the Host field chose the service, the path was kept whole
};

// `host_field`: the request's Host field (HTTP/2: its `:authority`), empty when it has none.
ReverseRoute route_reverse(const config::Config& config, std::string_view target,
                           std::string_view host_field = {});

// The service a Host field names by the rules above, or null ("localhost", an IP literal, a
// malformed authority, or a name of no service).
const config::Service* service_named_by_authority(const config::Config& config,
                                                  std::string_view host_field);

}  // namespace cloakroom::proxy
