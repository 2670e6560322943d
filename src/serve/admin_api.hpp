// The admin API's request handling, without sockets (docs/operations.md, "Admin API"): the
// guards every request passes (no proxy in between, Host and Origin of the listener itself,
// the bearer admin token), then the routes. serve/admin_server.* does the I/O.
//
// Why each guard: the admin listener is on loopback, which a browser on the same machine can
// reach. DNS rebinding points a name of the attacker's at 127.0.0.1: its requests carry that
// name as Host, hence only the listener's own loopback names are accepted (421 otherwise). A
// cross-site form or fetch carries its Origin: any Origin but the listener's own is refused,
// no CORS header is ever sent (so no other origin may read a response), and no cookie is ever
// set (the token is a header a browser never adds by itself). A request relayed by a proxy
// (Cloakroom's own included) carries Via/Forwarded: refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace cloakroom::serve {

struct AdminRequest {
    std::string method;
    std::string target;  // origin-form "/metrics?x"
    std::optional<std::string> host;
    std::optional<std::string> origin;
    std::optional<std::string> sec_fetch_site;
    std::optional<std::string> authorization;
    bool relayed = false;  // Via, Forwarded or X-Forwarded-* present
    std::string body;
};

struct AdminResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    bool authenticate = false;  // send WWW-Authenticate: Bearer (401)
};

// Headers every admin answer carries (the dashboard's page and the JSON alike): no caching, no
// MIME sniffing, never framed (clickjacking of the revoke buttons), scripts and styles only from
// the listener itself (no inline script: an injected string cannot run), fetches only to it,
// no Referer, no window shared with another site.
const std::vector<std::pair<std::string_view, std::string_view>>& admin_security_headers();

// How the request reached us: the TCP listener's port, or the unix socket.
struct AdminListenerInfo {
    bool unix_socket = false;
    std::uint16_t port = 0;
};

// What the routes act on: the running server.
class AdminBackend {
  public:
    virtual ~AdminBackend() = default;
    virtual bool ready() const = 0;
    virtual std::string metrics_text() const = 0;
    virtual nlohmann::json config_summary() const = 0;
    virtual nlohmann::json sessions() const = 0;
    // The dashboard's views: the last audit records after sequence number `after` (at most
    // `limit`), and the decisions per second (serve/dashboard.hpp has their JSON).
    virtual nlohmann::json audit_records(std::uint64_t after, std::size_t limit) const = 0;
    virtual nlohmann::json decisions() const = 0;
    // {"token_id": ...} or {"token": ...}, or {"before": TIME}; optional "reason".
    virtual Result<nlohmann::json> revoke(const nlohmann::json& request) = 0;
    virtual Result<nlohmann::json> reload() = 0;
    // Fleet mode's state (fleet/fleet.hpp): null when fleet mode is off, else an object with
    // at least "state" ("synced", "degraded", "stale") and "sync_age_ms".
    virtual nlohmann::json fleet() const { return nullptr; }
};

// The Host values the listener answers to: its loopback names with its port ("localhost" alone
// too on the unix socket, as curl --unix-socket sends).
bool admin_host_allowed(std::string_view host, const AdminListenerInfo& listener);

// Guards, then routes. `admin_token` is the expected bearer token.
AdminResponse handle_admin_request(const AdminRequest& request, const AdminListenerInfo& listener,
                                   std::string_view admin_token, AdminBackend& backend);

}  // namespace cloakroom::serve
