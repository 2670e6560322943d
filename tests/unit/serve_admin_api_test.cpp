// The admin API's guards and routes without sockets (serve/admin_api.hpp): relayed requests,
// foreign Host (DNS rebinding), foreign Origin (CSRF), the bearer token, malformed JSON.
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "serve/admin_api.hpp"

namespace cloakroom::serve {
namespace {

constexpr std::string_view kToken =
    "cladm_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";

struct FakeBackend : AdminBackend {
    int revokes = 0;
    int reloads = 0;
    bool reload_ok = true;
    nlohmann::json fleet_state = nullptr;  // fleet mode off
    bool ready() const override { return true; }
    nlohmann::json fleet() const override { return fleet_state; }
    std::string metrics_text() const override { return "m 1\n"; }
    nlohmann::json config_summary() const override { return {{"services", 1}}; }
    nlohmann::json sessions() const override { return {{"tokens", nlohmann::json::array()}}; }
    mutable std::uint64_t audit_after = 0;
    mutable std::size_t audit_limit = 0;
    nlohmann::json audit_records(std::uint64_t after, std::size_t limit) const override {
        audit_after = after;
        audit_limit = limit;
        return {{"records", nlohmann::json::array()}};
    }
    nlohmann::json decisions() const override { return {{"series", 1}}; }
    Result<nlohmann::json> revoke(const nlohmann::json& request) override {
        ++revokes;
        if (!request.contains("token_id")) return make_error("x", "give token_id");
        return nlohmann::json{{"revoked", true}};
    }
    Result<nlohmann::json> reload() override {
        ++reloads;
        if (!reload_ok) return make_error("x", "line 3: bad");
        return nlohmann::json{{"reloaded", true}};
    }
};

const AdminListenerInfo kTcp{false, 9464};
const AdminListenerInfo kUnix{true, 0};

AdminRequest request(std::string method, std::string target) {
    AdminRequest out;
    out.method = std::move(method);
    out.target = std::move(target);
    out.host = "127.0.0.1:9464";
    out.authorization = "Bearer " + std::string(kToken);
    return out;
}

TEST(ServeAdminApi, AuthorizedRoutesAnswer) {
    FakeBackend backend;
    auto metrics = handle_admin_request(request("GET", "/metrics"), kTcp, kToken, backend);
    EXPECT_EQ(metrics.status, 200u);
    EXPECT_EQ(metrics.body, "m 1\n");
    EXPECT_NE(metrics.content_type.find("text/plain; version=0.0.4"), std::string::npos);
    EXPECT_EQ(handle_admin_request(request("GET", "/api/v1/config"), kTcp, kToken, backend).status,
              200u);
    EXPECT_EQ(
        handle_admin_request(request("GET", "/api/v1/sessions?x=1"), kTcp, kToken, backend).status,
        200u);
    auto revoke = request("POST", "/api/v1/revoke");
    revoke.body = R"({"token_id":"ab"})";
    EXPECT_EQ(handle_admin_request(revoke, kTcp, kToken, backend).status, 200u);
    EXPECT_EQ(backend.revokes, 1);
    EXPECT_EQ(handle_admin_request(request("POST", "/api/v1/reload"), kTcp, kToken, backend).status,
              200u);
    backend.reload_ok = false;
    auto failed = handle_admin_request(request("POST", "/api/v1/reload"), kTcp, kToken, backend);
    EXPECT_EQ(failed.status, 422u);
    EXPECT_NE(failed.body.find("line 3: bad"), std::string::npos);
}

TEST(ServeAdminApi, HealthNeedsNoTokenButEverythingElseDoes) {
    FakeBackend backend;
    auto health = request("GET", "/healthz");
    health.authorization.reset();
    EXPECT_EQ(handle_admin_request(health, kTcp, kToken, backend).status, 200u);
    health.target = "/readyz";
    EXPECT_EQ(handle_admin_request(health, kTcp, kToken, backend).status, 200u);
    for (const char* path :
         {"/metrics", "/api/v1/config", "/api/v1/sessions", "/api/v1/revoke", "/api/v1/reload",
          "/api/v1/audit", "/api/v1/audit?after=0", "/api/v1/decisions", "/nothing",
          "/dashboard/nothing.js", "/dashboard.js", "/dashboard/app.js/x"}) {
        for (std::optional<std::string> header :
             {std::optional<std::string>(), std::optional<std::string>("Bearer "),
              std::optional<std::string>("Bearer wrong"),
              std::optional<std::string>("Bearer " + std::string(kToken) + "x"),
              std::optional<std::string>("Bearer " + std::string(kToken.substr(1))),
              std::optional<std::string>(std::string(kToken)),
              std::optional<std::string>("Basic " + std::string(kToken))}) {
            auto r = request(std::string(path).starts_with("/api/v1/re") ? "POST" : "GET", path);
            r.authorization = header;
            auto answer = handle_admin_request(r, kTcp, kToken, backend);
            EXPECT_EQ(answer.status, 401u) << path << " " << header.value_or("(none)");
            EXPECT_TRUE(answer.authenticate);
        }
    }
    EXPECT_EQ(backend.revokes, 0);
    EXPECT_EQ(backend.reloads, 0);
    // The scheme is case-insensitive; the token is not.
    auto lower = request("GET", "/metrics");
    lower.authorization = "bearer " + std::string(kToken);
    EXPECT_EQ(handle_admin_request(lower, kTcp, kToken, backend).status, 200u);
}

TEST(ServeAdminApi, OnlyTheListenersOwnHostIsAnswered) {
    for (const char* good : {"127.0.0.1:9464", "localhost:9464", "LocalHost:9464", "[::1]:9464"}) {
        EXPECT_TRUE(admin_host_allowed(good, kTcp)) << good;
    }
    for (const char* bad : {"evil.example", "evil.example:9464", "127.0.0.1", "127.0.0.1:9465",
                            "127.0.0.2:9464", "localhost", "localhost.evil:9464",
                            "127.0.0.1:9464.evil", "", "127.0.0.1:09464", "x127.0.0.1:9464"}) {
        EXPECT_FALSE(admin_host_allowed(bad, kTcp)) << bad;
    }
    EXPECT_TRUE(admin_host_allowed("localhost", kUnix));
    EXPECT_FALSE(admin_host_allowed("evil.example", kUnix));
    FakeBackend backend;
    auto r = request("POST", "/api/v1/revoke");
    r.body = R"({"token_id":"ab"})";
    r.host = "rebind.evil.example:9464";
    EXPECT_EQ(handle_admin_request(r, kTcp, kToken, backend).status, 421u);
    r.host.reset();
    EXPECT_EQ(handle_admin_request(r, kTcp, kToken, backend).status, 421u);
    EXPECT_EQ(backend.revokes, 0);
}

TEST(ServeAdminApi, CrossOriginAndRelayedRequestsAreRefused) {
    FakeBackend backend;
    for (const char* origin : {"https://evil.example", "null", "http://127.0.0.1:1",
                               "http://localhost:9464", "http://127.0.0.1:9464/"}) {
        auto r = request("POST", "/api/v1/revoke");
        r.body = R"({"token_id":"ab"})";
        r.origin = origin;
        EXPECT_EQ(handle_admin_request(r, kTcp, kToken, backend).status, 403u) << origin;
    }
    auto same = request("GET", "/metrics");
    same.origin = "http://127.0.0.1:9464";
    EXPECT_EQ(handle_admin_request(same, kTcp, kToken, backend).status, 200u);
    auto cross = request("GET", "/metrics");
    cross.sec_fetch_site = "cross-site";
    EXPECT_EQ(handle_admin_request(cross, kTcp, kToken, backend).status, 403u);
    cross.sec_fetch_site = "same-site";  // another port of localhost is same-site
    EXPECT_EQ(handle_admin_request(cross, kTcp, kToken, backend).status, 403u);
    auto relayed = request("GET", "/healthz");
    relayed.relayed = true;
    EXPECT_EQ(handle_admin_request(relayed, kTcp, kToken, backend).status, 403u);
    EXPECT_EQ(backend.revokes, 0);
}

TEST(ServeAdminApi, MalformedJsonMethodsAndPaths) {
    FakeBackend backend;
    for (const char* body : {"{", "", "[1]", "\"s\"", "nul", "{\"a\":}", "\xff"}) {
        auto r = request("POST", "/api/v1/revoke");
        r.body = body;
        auto answer = handle_admin_request(r, kTcp, kToken, backend);
        EXPECT_EQ(answer.status, 400u) << body;
        EXPECT_NE(answer.body.find("bad_json"), std::string::npos);
    }
    auto missing = request("POST", "/api/v1/revoke");
    missing.body = "{}";
    EXPECT_EQ(handle_admin_request(missing, kTcp, kToken, backend).status, 400u);
    EXPECT_EQ(handle_admin_request(request("GET", "/api/v1/revoke"), kTcp, kToken, backend).status,
              405u);
    EXPECT_EQ(handle_admin_request(request("DELETE", "/metrics"), kTcp, kToken, backend).status,
              405u);
    EXPECT_EQ(handle_admin_request(request("GET", "/api/v2/x"), kTcp, kToken, backend).status,
              404u);
}

TEST(ServeAdminApi, DashboardViewsPassTheirQueryAndCapTheLimit) {
    FakeBackend backend;
    auto answer = handle_admin_request(request("GET", "/api/v1/audit?after=42&limit=7"), kTcp,
                                       kToken, backend);
    EXPECT_EQ(answer.status, 200u);
    EXPECT_EQ(backend.audit_after, 42u);
    EXPECT_EQ(backend.audit_limit, 7u);
    handle_admin_request(request("GET", "/api/v1/audit?limit=99999999"), kTcp, kToken, backend);
    EXPECT_EQ(backend.audit_after, 0u);
    EXPECT_EQ(backend.audit_limit, 1000u);
    handle_admin_request(request("GET", "/api/v1/audit"), kTcp, kToken, backend);
    EXPECT_EQ(backend.audit_limit, 200u);
    EXPECT_EQ(
        handle_admin_request(request("GET", "/api/v1/decisions"), kTcp, kToken, backend).status,
        200u);
    EXPECT_EQ(handle_admin_request(request("POST", "/api/v1/audit"), kTcp, kToken, backend).status,
              405u);
}

// The page and its script need no token (a navigation cannot carry one) but pass the Host and
// Origin guards like everything else: a rebinding name never gets the page.
TEST(ServeAdminApi, DashboardFilesNeedNoTokenButTheGuards) {
    FakeBackend backend;
    struct Want {
        const char* path;
        const char* type;
        const char* marker;
    };
    for (const Want& want : {Want{"/dashboard", "text/html", "<script src=\"/dashboard/app.js\""},
                             Want{"/dashboard/", "text/html", "<title>"},
                             Want{"/dashboard/app.js", "text/javascript", "textContent"},
                             Want{"/dashboard/app.css", "text/css", "body"}}) {
        auto r = request("GET", want.path);
        r.authorization.reset();
        auto answer = handle_admin_request(r, kTcp, kToken, backend);
        EXPECT_EQ(answer.status, 200u) << want.path;
        EXPECT_TRUE(answer.content_type.starts_with(want.type)) << answer.content_type;
        EXPECT_NE(answer.body.find(want.marker), std::string::npos) << want.path;
        r.host = "rebind.evil.example:9464";
        EXPECT_EQ(handle_admin_request(r, kTcp, kToken, backend).status, 421u) << want.path;
        r.host = "127.0.0.1:9464";
        r.sec_fetch_site = "cross-site";
        EXPECT_EQ(handle_admin_request(r, kTcp, kToken, backend).status, 403u) << want.path;
        r.sec_fetch_site.reset();
        r.method = "POST";
        EXPECT_EQ(handle_admin_request(r, kTcp, kToken, backend).status, 405u) << want.path;
    }
    // The page has no inline script for the policy to allow, and never writes HTML from data.
    auto page = handle_admin_request(request("GET", "/dashboard"), kTcp, kToken, backend).body;
    EXPECT_EQ(page.find("<script>"), std::string::npos);
    EXPECT_FALSE(std::regex_search(page, std::regex(R"(\son[a-z]+\s*=)"))) << "inline handler";
    auto script = handle_admin_request(request("GET", "/dashboard/app.js"), kTcp, kToken, backend);
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                             "eval(", "new Function"}) {
        EXPECT_EQ(script.body.find(sink), std::string::npos) << sink;
    }
}

TEST(ServeAdminApi, SecurityHeadersForbidFramingInlineScriptAndOtherOrigins) {
    std::map<std::string, std::string, std::less<>> headers;
    for (const auto& [name, value] : admin_security_headers()) {
        headers.emplace(std::string(name), std::string(value));
    }
    EXPECT_EQ(headers["X-Frame-Options"], "DENY");
    EXPECT_EQ(headers["Cache-Control"], "no-store");
    EXPECT_EQ(headers["Referrer-Policy"], "no-referrer");
    const std::string& csp = headers["Content-Security-Policy"];
    for (const char* part : {"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'",
                             "connect-src 'self'", "form-action 'none'"}) {
        EXPECT_NE(csp.find(part), std::string::npos) << part;
    }
    EXPECT_EQ(csp.find("unsafe"), std::string::npos);
    for (const auto& [name, value] : headers) {
        EXPECT_FALSE(name.starts_with("Access-Control")) << name;
        EXPECT_NE(name, "Set-Cookie");
    }
}

}  // namespace
}  // namespace cloakroom::serve

namespace cloakroom::serve {
namespace {

TEST(ServeAdminApi, AStaleFleetMemberIsNotReadyAndSaysWhy) {
    FakeBackend backend;
    AdminRequest health = request("GET", "/readyz");
    health.authorization.reset();  // health needs no token
    auto off = handle_admin_request(health, kTcp, kToken, backend);
    EXPECT_EQ(off.status, 200u);
    EXPECT_EQ(nlohmann::json::parse(off.body), (nlohmann::json{{"status", "ready"}}));
    backend.fleet_state = {{"state", "degraded"},
                           {"sync_age_ms", 1500},
                           {"instance", "gw-1"},
                           {"last_error", "connection refused"}};
    auto degraded = handle_admin_request(health, kTcp, kToken, backend);
    EXPECT_EQ(degraded.status, 200u) << "degraded still serves";
    const auto body = nlohmann::json::parse(degraded.body);
    EXPECT_EQ(body["fleet"]["state"], "degraded");
    EXPECT_FALSE(body["fleet"].contains("last_error")) << "details need the admin token";
    backend.fleet_state["state"] = "stale";
    auto stale = handle_admin_request(health, kTcp, kToken, backend);
    EXPECT_EQ(stale.status, 503u);
    EXPECT_EQ(nlohmann::json::parse(stale.body)["status"], "fleet_stale");
    health.target = "/healthz";
    auto alive = handle_admin_request(health, kTcp, kToken, backend);
    EXPECT_EQ(alive.status, 200u) << "alive, if not ready";
    EXPECT_EQ(nlohmann::json::parse(alive.body)["fleet"]["state"], "stale");
    auto detail = handle_admin_request(request("GET", "/api/v1/fleet"), kTcp, kToken, backend);
    EXPECT_EQ(detail.status, 200u);
    EXPECT_EQ(nlohmann::json::parse(detail.body)["instance"], "gw-1");
    health.target = "/api/v1/fleet";
    EXPECT_EQ(handle_admin_request(health, kTcp, kToken, backend).status, 401u);
}

}  // namespace
}  // namespace cloakroom::serve
