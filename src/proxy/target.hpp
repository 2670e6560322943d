// Where an agent's request goes, as the front end that received it determined it from the
// connection itself (the CONNECT authority, an absolute-form URL), never from a header inside the
// request alone (docs/architecture.md, invariant 2). The reverse listener is the exception by
// design: its connection is to Cloakroom itself, so the request names the service (its path
// prefix, or an authority <service>.localhost: route_reverse.hpp) and the upstream is that
// service's own host, whatever else the request says.
// Each front end computes one Target per connection or request; everything after that, the
// request plan and the exchange, is the same for all of them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/route.hpp"

namespace cloakroom::runtime {
struct Runtime;
}

namespace cloakroom::proxy {

enum class FrontEnd : std::uint8_t {
    Connect,       // inside an intercepted CONNECT tunnel (TLS to the agent)
    AbsoluteForm,  // "GET http://host/path" to the forward proxy listener
    Reverse,       // the reverse base-URL listener: "/<service>/path"
    // A redirected connection (transparent_connection.hpp): its original destination and TLS
    // server name or Host header (origin-form requests; TLS to the agent for HTTPS).
    Transparent,
};

struct Target {
    FrontEnd front_end = FrontEnd::Connect;
    Route route;  // the routed host, port and service (points into the runtime's config)
    // The port dialed upstream (a service reached by absolute-form http:// is dialed with TLS
    // on 443 when it was addressed on port 80).
    std::uint16_t upstream_port = 0;
    // The TLS server name the agent sent, for a front end that terminates TLS. A client without
    // SNI (IP literals) is judged by its Host header alone.
    std::optional<std::string> tls_server_name;
    std::optional<std::string> proxy_authorization;  // from the CONNECT, if any
    std::string client;                              // the agent's address, for the audit
    // For a Target that outlives one request (an intercepted CONNECT or transparent
    // connection): the snapshot whose configuration `route` points into, held so that a reload
    // cannot free it under the route. A request under a newer snapshot is routed again first
    // (route_again): each request sees the newest configuration, the route included.
    std::shared_ptr<const runtime::Runtime> routed_by;

    // Whether the request's Host header must name the routed host: not on the reverse
    // listener, where Host names Cloakroom itself and the route came from the path.
    bool checks_host_header() const { return front_end != FrontEnd::Reverse; }
    // Whether the request target is in absolute form ("http://host/path").
    bool absolute_form() const { return front_end == FrontEnd::AbsoluteForm; }
};

}  // namespace cloakroom::proxy
