// Connection-level routing (issue 3 decisions 1-4; docs/architecture.md invariants 2, 3, 7).
#include <gtest/gtest.h>

#include <memory>

#include "proxy/route.hpp"
#include "proxy_test_support.hpp"

namespace cloakroom::proxy {
namespace {

using test::sample_config;

TEST(ProxyRoute, UnknownHostIsDeniedWith403) {
    const auto config = sample_config();
    const Route route = route_connect(config, "evil.example.net:443");
    EXPECT_EQ(route.kind, RouteKind::Deny);
    EXPECT_EQ(route.status, 403u);
    EXPECT_EQ(route.error, "host_not_configured");
    EXPECT_NE(route.reason.find("host 'evil.example.net:443' is not configured in Cloakroom"),
              std::string::npos)
        << route.reason;
    EXPECT_EQ(route.service, nullptr);
}

TEST(ProxyRoute, AllowedHostIsTunneled) {
    const auto config = sample_config();
    const Route route = route_connect(config, "PyPI.org.:443");
    EXPECT_EQ(route.kind, RouteKind::Tunnel);
    EXPECT_EQ(route.host, "pypi.org");
    EXPECT_EQ(route.port, 443);
    EXPECT_EQ(route.service, nullptr);
    EXPECT_EQ(route.authority(), "pypi.org:443");
}

TEST(ProxyRoute, AllowedHostPortSemantics) {
    const auto config = sample_config();
    EXPECT_EQ(route_connect(config, "files.example.com:8443").kind, RouteKind::Tunnel);
    EXPECT_EQ(route_connect(config, "files.example.com:443").kind, RouteKind::Deny);
    const Route v6 = route_connect(config, "[2001:DB8:0::1]:443");
    EXPECT_EQ(v6.kind, RouteKind::Tunnel);
    EXPECT_EQ(v6.host, "2001:db8::1");
    EXPECT_EQ(v6.authority(), "[2001:db8::1]:443");
}

TEST(ProxyRoute, CredentialHostIsAlwaysIntercepted) {
    auto config = sample_config();
    // Even if a credential host also sits in [allow] (the loader prevents it), it is never a
    // blind tunnel.
    config.allowed_hosts.push_back("api.stripe.com");
    const Route route = route_connect(config, "api.stripe.com:443");
    EXPECT_EQ(route.kind, RouteKind::Intercept);
    ASSERT_NE(route.service, nullptr);
    EXPECT_EQ(route.service->name, "stripe");
    EXPECT_EQ(route.host, "api.stripe.com");
    EXPECT_EQ(route.port, 443);
    // Any port of a bare service host.
    EXPECT_EQ(route_connect(config, "api.stripe.com:8443").kind, RouteKind::Intercept);
}

// A reload under an open intercepted connection: the route is decided again by the new
// configuration and points into it, never into the old one (which the reload may free).
TEST(ProxyRoute, RoutedAgainByANewConfigurationPointsIntoIt) {
    auto before = std::make_unique<config::Config>(sample_config());
    const Route first = route_connect(*before, "api.stripe.com:443");
    ASSERT_EQ(first.kind, RouteKind::Intercept);

    config::Config changed = sample_config();
    changed.services[0].rules.allow.clear();  // stricter rules after the reload
    const Route again = route_again(changed, first);
    before.reset();  // the old configuration is gone
    ASSERT_EQ(again.kind, RouteKind::Intercept);
    ASSERT_NE(again.service, nullptr);
    EXPECT_EQ(again.service, &changed.services[0]);
    EXPECT_TRUE(again.service->rules.allow.empty());
    EXPECT_EQ(again.host, "api.stripe.com");
    EXPECT_EQ(again.port, 443);

    // The service removed, the host now only allowed: no blind tunnel inside a connection the
    // gateway already terminates, 421 (clients retry on a new connection).
    config::Config tunnel_only = sample_config();
    tunnel_only.services.erase(tunnel_only.services.begin());
    tunnel_only.allowed_hosts.push_back("api.stripe.com");
    const Route now_tunnel = route_again(tunnel_only, again);
    EXPECT_EQ(now_tunnel.kind, RouteKind::Deny);
    EXPECT_EQ(now_tunnel.status, 421u);
    EXPECT_EQ(now_tunnel.error, "misdirected_request");
    EXPECT_EQ(now_tunnel.host, "api.stripe.com");
    EXPECT_EQ(now_tunnel.service, nullptr);

    // The service removed and the host unknown: the refusal a new CONNECT would get.
    config::Config gone = sample_config();
    gone.services.erase(gone.services.begin());
    const Route now_unknown = route_again(gone, again);
    EXPECT_EQ(now_unknown.kind, RouteKind::Deny);
    EXPECT_EQ(now_unknown.status, 403u);
    EXPECT_EQ(now_unknown.host, "api.stripe.com");
}

TEST(ProxyRoute, ServiceWithoutCredentialIsInterceptedToo) {
    const auto config = sample_config();
    const Route route = route_connect(config, "docs.example.com:443");
    EXPECT_EQ(route.kind, RouteKind::Intercept);
    ASSERT_NE(route.service, nullptr);
    EXPECT_EQ(route.service->name, "docs");
    const Route v6 = route_connect(config, "[::1]:8080");
    EXPECT_EQ(v6.kind, RouteKind::Intercept);
    EXPECT_EQ(route_connect(config, "[::1]:8081").kind, RouteKind::Deny);
}

TEST(ProxyRoute, PortSpecificServiceHost) {
    const auto config = sample_config();
    const Route git = route_connect(config, "git.example.com:8443");
    EXPECT_EQ(git.kind, RouteKind::Intercept);
    EXPECT_EQ(git.service->name, "git");
    EXPECT_EQ(route_connect(config, "git.example.com:443").kind, RouteKind::Deny);
}

TEST(ProxyRoute, MalformedConnectTargetsAre400) {
    const auto config = sample_config();
    for (const char* bad : {"", "api.stripe.com", "api.stripe.com:0", "api.stripe.com:99999",
                            "https://api.stripe.com:443", "user@api.stripe.com:443", "::1:443",
                            "api.stripe.com:443/x", "api stripe.com:443"}) {
        const Route route = route_connect(config, bad);
        EXPECT_EQ(route.kind, RouteKind::Deny) << bad;
        EXPECT_EQ(route.status, 400u) << bad;
        EXPECT_EQ(route.error, "bad_request") << bad;
        EXPECT_FALSE(route.reason.empty());
    }
}

TEST(ProxyRoute, AbsoluteFormHttp) {
    const auto config = sample_config();
    const Route allowed = route_absolute(config, "http", "pypi.org");
    EXPECT_EQ(allowed.kind, RouteKind::Tunnel);
    EXPECT_EQ(allowed.port, 80);
    const Route docs = route_absolute(config, "HTTP", "docs.example.com:8080");
    EXPECT_EQ(docs.kind, RouteKind::Intercept);
    EXPECT_EQ(docs.port, 8080);
    const Route unknown = route_absolute(config, "http", "evil.example.net");
    EXPECT_EQ(unknown.kind, RouteKind::Deny);
    EXPECT_EQ(unknown.status, 403u);
    EXPECT_EQ(unknown.error, "host_not_configured");
}

TEST(ProxyRoute, AbsoluteFormNeverSendsACredentialInClearText) {
    const auto config = sample_config();
    const Route stripe = route_absolute(config, "http", "api.stripe.com");
    EXPECT_EQ(stripe.kind, RouteKind::Deny);
    EXPECT_EQ(stripe.status, 403u);
    EXPECT_EQ(stripe.error, "https_required");
    EXPECT_NE(stripe.reason.find("https://api.stripe.com/"), std::string::npos) << stripe.reason;
}

TEST(ProxyRoute, AbsoluteFormOtherSchemes) {
    const auto config = sample_config();
    for (const char* scheme : {"https", "ftp", "", "ws"}) {
        const Route route = route_absolute(config, scheme, "pypi.org");
        EXPECT_EQ(route.kind, RouteKind::Deny) << scheme;
        EXPECT_EQ(route.status, 400u) << scheme;
    }
    EXPECT_EQ(route_absolute(config, "http", "pypi.org:0").status, 400u);
}

TEST(ProxyRoute, HostHeaderMustMatchTheConnection) {
    const auto config = sample_config();
    const Route route = route_connect(config, "api.stripe.com:443");
    EXPECT_FALSE(check_host_header(route, "api.stripe.com"));
    EXPECT_FALSE(check_host_header(route, "API.Stripe.com."));
    EXPECT_FALSE(check_host_header(route, "api.stripe.com:443"));
    EXPECT_FALSE(check_host_header(route, ""));
    auto other = check_host_header(route, "api.github.com");
    ASSERT_TRUE(other);
    EXPECT_NE(other->find("api.stripe.com:443"), std::string::npos) << *other;
    EXPECT_TRUE(check_host_header(route, "api.stripe.com:8443"));
    EXPECT_TRUE(check_host_header(route, "api.stripe.com.evil.net"));
    EXPECT_TRUE(check_host_header(route, "api.stripe.com@evil.net"));
    EXPECT_TRUE(check_host_header(route, "bad host"));

    const Route v6 = route_connect(config, "[::1]:8080");
    EXPECT_FALSE(check_host_header(v6, "[::1]:8080"));
    EXPECT_FALSE(check_host_header(v6, "[0::1]"));
    EXPECT_TRUE(check_host_header(v6, "[::2]:8080"));
}

}  // namespace
}  // namespace cloakroom::proxy

namespace cloakroom::proxy {
namespace {

// Route::token_host tells a token whether the service owns this exact host:port (a port-keyed
// service) or the bare host: compared in place, it must agree with the key's own text.
TEST(ProxyRouteTokenHost, PortKeyedOnlyForTheExactHostAndPort) {
    const config::Config config = test::sample_config();
    const token::RoutedHost git = route_connect(config, "git.example.com:8443").token_host();
    EXPECT_EQ(git.host, "git.example.com");
    EXPECT_EQ(git.port, 8443);
    EXPECT_TRUE(git.port_keyed);
    const token::RoutedHost stripe = route_connect(config, "api.stripe.com:443").token_host();
    EXPECT_FALSE(stripe.port_keyed);
    const token::RoutedHost stripe_other =
        route_connect(config, "api.stripe.com:8443").token_host();
    EXPECT_FALSE(stripe_other.port_keyed);
    const token::RoutedHost v6 = route_connect(config, "[::1]:8080").token_host();
    EXPECT_EQ(v6.host, "::1");
    EXPECT_TRUE(v6.port_keyed);
    const token::RoutedHost v6_other = route_connect(config, "[::1]:8081").token_host();
    EXPECT_FALSE(v6_other.port_keyed);
}

}  // namespace
}  // namespace cloakroom::proxy
