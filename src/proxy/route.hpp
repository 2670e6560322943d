// Connection-level routing: which of deny / blind tunnel / inspect applies to a proxy target.
// Decided from the connection's own target (the CONNECT authority, or the absolute-form URL),
// never from a header inside it (docs/architecture.md, invariants 2, 3, 7). Pure: no I/O, no DNS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.hpp"
#include "token/host_caveat.hpp"

namespace cloakroom::proxy {

enum class RouteKind {
    Deny,       // answer `status`/`error`/`reason` on the CONNECT itself, before any TLS
    Tunnel,     // [allow] host: blind byte relay (CONNECT) or plain forwarding (absolute-form)
    Intercept,  // a service host: terminate TLS, check every request, inject its credential
};

struct Route {
    RouteKind kind = RouteKind::Deny;
    // The owning service when kind == Intercept (points into the Config the route came from, so
    // it lives as long as that config snapshot); nullptr otherwise.
    const config::Service* service = nullptr;
    std::string host;        // normalized: lower-case, no trailing dot, IPv6 without brackets
    std::uint16_t port = 0;  // the port to dial (explicit, or the scheme's default)
    // For Deny: HTTP status and error id for make_error_response(); the reason is also set for
    // Tunnel/Intercept (readable text for the audit record).
    unsigned status = 0;
    std::string error;
    std::string reason;

    // "host:port" / "[v6]:port": what to dial and what the Host header must name.
    std::string authority() const;
    // The route as a token's host caveat sees it (token/host_caveat.hpp): host, port, and
    // whether the owning service is keyed by this exact "host:port" rather than the bare host.
    token::RoutedHost token_host() const;
};

// CONNECT target ("host:port" or "[v6]:port"; RFC 9110 requires the port). Order: a service
// host (credential or not) is always Intercept, so a credential host can never be tunneled even
// if it is also listed in [allow]; then [allow] hosts are Tunnel; anything else is Deny 403.
// Port semantics are Config::find_service / is_allowed_host's: "host:port" entries match only
// that port and win, bare entries match any port. Malformed targets are Deny 400.
Route route_connect(const config::Config& config, std::string_view authority);

// The route of a connection the gateway already intercepts (TLS terminated), decided again by a
// newer configuration `config` for the same "host:port": its service's rules as they are now. A
// host that is no longer a service cannot go on inside this connection (it would be a blind
// tunnel now): 421, which tells HTTP clients to retry on a new connection.
Route route_again(const config::Config& config, const Route& before);

// Absolute-form request ("GET http://host[:port]/path"): scheme "http" (case-insensitive), port
// defaults to 80. Same decision as route_connect, with one more rule: a service that injects a
// credential is refused over plain http (403 https_required), because injecting would put the
// real secret on the wire in clear text. "https" in absolute form is refused (400): clients
// must use CONNECT, which is where TLS interception happens.
Route route_absolute(const config::Config& config, std::string_view scheme,
                     std::string_view authority);

// Decision 4: inside an intercepted connection the request's Host header must name the routed
// host (case-insensitive, trailing dot ignored). A port in the Host header must equal the routed
// port; a Host without a port is accepted for any routed port (credential selection depends
// only on the route, so this cannot cross hosts). Returns a readable reason when it does not
// match (answer 421 misdirected_request), nullopt when it does. An absent/empty Host (HTTP/1.0)
// is accepted: the route decides anyway.
std::optional<std::string> check_host_header(const Route& route, std::string_view host_header);

}  // namespace cloakroom::proxy
