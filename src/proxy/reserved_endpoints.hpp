// Addresses the gateway never dials for an agent, whatever the service's allow_private says: its
// own admin listener (docs/operations.md, "Admin API"). An agent that names it (an [allow] host,
// a service with allow_private, a transparent connection) gets 403 address_forbidden, so the
// admin API is never reachable through the gateway itself.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace cloakroom::proxy {

// Adds an endpoint (serve, at start). An unspecified address (0.0.0.0, ::) reserves the port on
// every address.
void reserve_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);
bool is_reserved_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);
// Tests.
void clear_reserved_endpoints();

}  // namespace cloakroom::proxy
