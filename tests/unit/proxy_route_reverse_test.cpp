// route_reverse: the service comes from the normalized path's first segment, the rest goes
// upstream.
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

}  // namespace
}  // namespace cloakroom::proxy
