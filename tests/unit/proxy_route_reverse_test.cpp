// route_reverse: the service comes from the authority when it names one (<service>.localhost or
// the exact name; the path goes upstream whole), else from the normalized path's first segment,
// the rest going upstream.
#include <gtest/gtest.h>

#include "proxy/route_reverse.hpp"
#include "proxy_test_support.hpp"

namespace cloakroom::proxy {
namespace {

using test::sample_config;

TEST(RouteReverse, FirstSegmentPicksTheServiceAndTheRestGoesUpstream) {
    const auto config = sample_config();
    const ReverseRoute r = route_reverse(config, "/stripe/v1/customers?limit=3&x=%2F");
    ASSERT_EQ(r.route.kind, RouteKind::Intercept) << r.route.reason;
    ASSERT_NE(r.route.service, nullptr);
    EXPECT_EQ(r.route.service->name, "stripe");
    EXPECT_EQ(r.route.host, "api.stripe.com");
    EXPECT_EQ(r.route.port, 443);
    EXPECT_EQ(r.target, "/v1/customers?limit=3&x=%2F");
}

TEST(RouteReverse, ServiceRootAndExplicitPorts) {
    const auto config = sample_config();
    EXPECT_EQ(route_reverse(config, "/stripe").target, "/");
    EXPECT_EQ(route_reverse(config, "/stripe/").target, "/");
    EXPECT_EQ(route_reverse(config, "/stripe?a=1").target, "/?a=1");
    const ReverseRoute git = route_reverse(config, "/git/repo.git/info/refs");
    EXPECT_EQ(git.route.host, "git.example.com");
    EXPECT_EQ(git.route.port, 8443);
    // The first host of a service with several.
    EXPECT_EQ(route_reverse(config, "/docs/x").route.host, "docs.example.com");
}

TEST(RouteReverse, NormalizedBeforeTheServiceIsChosen) {
    const auto config = sample_config();
    for (const char* target :
         {"/stripe/../maps/v1", "/stripe/%2e%2e/maps/v1", "//maps/./v1", "/x/../maps/v1"}) {
        const ReverseRoute r = route_reverse(config, target);
        ASSERT_EQ(r.route.kind, RouteKind::Intercept) << target;
        EXPECT_EQ(r.route.service->name, "maps") << target;
        EXPECT_EQ(r.target, "/v1") << target;
    }
    // Encoded separators never split a service name.
    EXPECT_EQ(route_reverse(config, "/stripe%2Fv1").route.kind, RouteKind::Deny);
}

TEST(RouteReverse, RefusalsSayWhy) {
    const auto config = sample_config();
    const ReverseRoute unknown = route_reverse(config, "/nosuch/v1");
    EXPECT_EQ(unknown.route.kind, RouteKind::Deny);
    EXPECT_EQ(unknown.route.status, 404u);
    EXPECT_EQ(unknown.route.error, "service_not_found");
    EXPECT_NE(unknown.route.reason.find("nosuch"), std::string::npos);
    EXPECT_EQ(route_reverse(config, "/").route.status, 404u);
    EXPECT_EQ(route_reverse(config, "*").route.status, 400u);
    EXPECT_EQ(route_reverse(config, "http://api.stripe.com/v1").route.status, 400u);
    EXPECT_EQ(route_reverse(config, "/stripe/a\\b").route.status, 400u);
    // Service names are exact: no case folding, no prefix matching.
    EXPECT_EQ(route_reverse(config, "/Stripe/v1").route.status, 404u);
    EXPECT_EQ(route_reverse(config, "/stripex/v1").route.status, 404u);
}

TEST(RouteReverse, AuthorityNamingAServiceKeepsThePathWhole) {
    const auto config = sample_config();
    for (const char* host : {"stripe.localhost", "stripe.localhost:8081", "Stripe.LOCALHOST.",
                             "stripe", "stripe:8081"}) {
        const ReverseRoute r = route_reverse(config, "/pkg.Service/Method?x=1", host);
        ASSERT_EQ(r.route.kind, RouteKind::Intercept) << host << ": " << r.route.reason;
        EXPECT_EQ(r.route.service->name, "stripe") << host;
        EXPECT_EQ(r.route.host, "api.stripe.com") << host;
        EXPECT_EQ(r.target, "/pkg.Service/Method?x=1") << host;
        EXPECT_TRUE(r.by_authority) << host;
    }
    // The authority wins over a path that names another service: one rule per request, and the
    // path is still normalized (what the rules see is what is sent).
    const ReverseRoute r = route_reverse(config, "/maps/../git/x", "stripe.localhost");
    ASSERT_EQ(r.route.kind, RouteKind::Intercept);
    EXPECT_EQ(r.route.service->name, "stripe");
    EXPECT_EQ(r.target, "/git/x");
    EXPECT_EQ(route_reverse(config, "/a%2Fb", "stripe.localhost").route.status, 400u);
    EXPECT_EQ(route_reverse(config, "*", "stripe.localhost").route.status, 400u);
}

TEST(RouteReverse, AuthorityNamingNoServiceLeavesThePathToChoose) {
    const auto config = sample_config();
    for (const char* host :
         {"", "localhost", "localhost:8081", "127.0.0.1:8081", "[::1]:8081", "nosuch.localhost",
          "api.stripe.com", "stripe.localhost.evil.com", "x.stripe.localhost", ".localhost",
          "bad host", "stripe.localhost/x"}) {
        const ReverseRoute r = route_reverse(config, "/maps/v1?q=1", host);
        ASSERT_EQ(r.route.kind, RouteKind::Intercept) << host << ": " << r.route.reason;
        EXPECT_EQ(r.route.service->name, "maps") << host;
        EXPECT_EQ(r.target, "/v1?q=1") << host;
        EXPECT_FALSE(r.by_authority) << host;
        // And a gRPC path with such an authority names no service: refused as before.
        const ReverseRoute grpc = route_reverse(config, "/pkg.Service/Method", host);
        EXPECT_EQ(grpc.route.status, 404u) << host;
        EXPECT_EQ(grpc.route.error, "service_not_found") << host;
    }
    EXPECT_EQ(service_named_by_authority(config, "git.localhost")->name, "git");
    EXPECT_EQ(service_named_by_authority(config, "localhost"), nullptr);
}

}  // namespace
}  // namespace cloakroom::proxy
