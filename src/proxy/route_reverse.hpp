// Reverse base-URL routing: on the reverse listener an agent's base URL is
// "http://127.0.0.1:PORT/<service>", so "GET /stripe/v1/customers?limit=3" is service "stripe",
// forwarded as "GET /v1/customers?limit=3" to the service's first host over verified TLS. The
// whole target is normalized FIRST and the service taken from the normalized path, so dot
// segments or encoded slashes can never pick one service and reach another's path. Pure.
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
    std::string target;  // origin-form for upstream: normalized path without the prefix + query
};

ReverseRoute route_reverse(const config::Config& config, std::string_view target);

}  // namespace cloakroom::proxy
