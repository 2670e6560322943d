#include "serve/admin_api.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "serve/dashboard.hpp"
#include "util/ascii.hpp"

namespace cloakroom::serve {
namespace {

constexpr std::size_t kMaxBody = 64 * 1024;
// Records per /api/v1/audit answer, by default and at most.
constexpr std::uint64_t kAuditDefaultLimit = 200;
constexpr std::uint64_t kAuditMaxLimit = 1000;

AdminResponse json_response(unsigned status, const nlohmann::json& body) {
    AdminResponse out;
    out.status = status;
    out.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return out;
}

AdminResponse error_response(unsigned status, std::string_view error, std::string_view reason) {
    return json_response(status, {{"error", std::string(error)}, {"reason", std::string(reason)}});
}

bool token_matches(std::string_view header, std::string_view expected) {
    constexpr std::string_view kScheme = "Bearer ";
    if (header.size() < kScheme.size() || !ascii_iequals(header.substr(0, kScheme.size()), kScheme))
        return false;
    std::string_view given = header.substr(kScheme.size());
    while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
    while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
    if (given.size() != expected.size() || expected.empty()) return false;
    return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

std::string_view path_of(std::string_view target) {
    const auto query = target.find('?');
    return query == std::string_view::npos ? target : target.substr(0, query);
}

}  // namespace

const std::vector<std::pair<std::string_view, std::string_view>>& admin_security_headers() {
    static const std::vector<std::pair<std::string_view, std::string_view>> kHeaders = {
        {"Cache-Control", "no-store"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
         "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
        {"Referrer-Policy", "no-referrer"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {"Cross-Origin-Resource-Policy", "same-origin"},
    };
    return kHeaders;
}

bool admin_host_allowed(std::string_view host, const AdminListenerInfo& listener) {
    if (listener.unix_socket && ascii_iequals(host, "localhost")) return true;
    if (listener.port == 0) return false;
    const std::string port = ":" + std::to_string(listener.port);
    for (std::string_view name : {"127.0.0.1", "localhost", "[::1]"}) {
        if (host.size() == name.size() + port.size() &&
            ascii_iequals(host.substr(0, name.size()), name) && host.substr(name.size()) == port) {
            return true;
        }
    }
    return false;
}

AdminResponse handle_admin_request(const AdminRequest& request, const AdminListenerInfo& listener,
                                   std::string_view admin_token, AdminBackend& backend) {
    // 1. Never through a proxy, the gateway included.
    if (request.relayed) {
        return error_response(403, "admin_relayed",
                              "the admin API does not answer requests relayed by a proxy");
    }
    // 2. DNS rebinding: only the listener's own names.
    if (!request.host || !admin_host_allowed(*request.host, listener)) {
        return error_response(421, "admin_bad_host",
                              "the admin API answers only to its own loopback address as Host");
    }
    // 3. Cross-site requests from a browser.
    if (request.origin && *request.origin != "http://" + *request.host) {
        return error_response(403, "admin_bad_origin",
                              "the admin API does not answer cross-origin requests");
    }
    if (request.sec_fetch_site && *request.sec_fetch_site != "same-origin" &&
        *request.sec_fetch_site != "none") {
        return error_response(403, "admin_bad_origin",
                              "the admin API does not answer cross-site requests");
    }
    const std::string_view path = path_of(request.target);
    const bool get = request.method == "GET" || request.method == "HEAD";
    // Health needs no token (load balancers, systemd); everything else does.
    // Fleet mode: the state only (no instance list, no error text) without a token.
    auto fleet_summary = [&]() -> nlohmann::json {
        const nlohmann::json fleet = backend.fleet();
        if (fleet.is_null()) return nullptr;
        return {{"state", fleet.value("state", "stale")},
                {"sync_age_ms", fleet.value("sync_age_ms", std::int64_t{-1})}};
    };
    if (path == "/healthz") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        nlohmann::json out = {{"status", "ok"}};
        if (auto fleet = fleet_summary(); !fleet.is_null()) out["fleet"] = fleet;
        return json_response(200, out);
    }
    if (path == "/readyz") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        // A stale fleet member refuses every token: not ready, so a load balancer that checks
        // /readyz sends agents to the other gateways.
        const nlohmann::json fleet = fleet_summary();
        const bool stale = !fleet.is_null() && fleet["state"] == "stale";
        const bool ready = backend.ready() && !stale;
        nlohmann::json out = {
            {"status", ready ? "ready" : (backend.ready() ? "fleet_stale" : "starting")}};
        if (!fleet.is_null()) out["fleet"] = fleet;
        return json_response(ready ? 200 : 503, out);
    }
    // The dashboard's static page and scripts: nothing secret in them, and a browser cannot
    // send the token on a navigation (the page's script sends it on every fetch instead).
    if (auto asset = dashboard_asset(path)) {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        AdminResponse out;
        out.content_type = std::string(asset->content_type);
        out.body = std::string(asset->body);
        return out;
    }
    // 4. The bearer admin token.
    if (!request.authorization || !token_matches(*request.authorization, admin_token)) {
        AdminResponse denied = error_response(
            401, "admin_unauthorized",
            "send Authorization: Bearer <admin token> (`cloakroom admin-token` prints it)");
        denied.authenticate = true;
        return denied;
    }
    if (path == "/metrics") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        AdminResponse out;
        out.content_type = "text/plain; version=0.0.4; charset=utf-8";
        out.body = backend.metrics_text();
        return out;
    }
    if (path == "/api/v1/config") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        return json_response(200, backend.config_summary());
    }
    if (path == "/api/v1/sessions") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        return json_response(200, backend.sessions());
    }
    if (path == "/api/v1/audit") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        const std::uint64_t after = query_number(request.target, "after").value_or(0);
        const std::uint64_t limit = std::min(
            query_number(request.target, "limit").value_or(kAuditDefaultLimit), kAuditMaxLimit);
        return json_response(200, backend.audit_records(after, static_cast<std::size_t>(limit)));
    }
    if (path == "/api/v1/decisions") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        return json_response(200, backend.decisions());
    }
    if (path == "/api/v1/fleet") {
        if (!get) return error_response(405, "method_not_allowed", "use GET");
        nlohmann::json fleet = backend.fleet();
        if (fleet.is_null()) fleet = {{"enabled", false}};
        return json_response(200, fleet);
    }
    if (path == "/api/v1/revoke" || path == "/api/v1/reload") {
        if (request.method != "POST") return error_response(405, "method_not_allowed", "use POST");
        if (path == "/api/v1/reload") {
            auto reloaded = backend.reload();
            if (!reloaded.ok()) {
                return error_response(422, "reload_failed", reloaded.error().message);
            }
            return json_response(200, *reloaded);
        }
        if (request.body.size() > kMaxBody) {
            return error_response(413, "body_too_large", "the request body is too large");
        }
        const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
            return error_response(400, "bad_json", "the body must be a JSON object");
        }
        auto revoked = backend.revoke(body);
        if (!revoked.ok()) return error_response(400, "bad_request", revoked.error().message);
        return json_response(200, *revoked);
    }
    return error_response(404, "not_found", "no such admin endpoint");
}

}  // namespace cloakroom::serve
