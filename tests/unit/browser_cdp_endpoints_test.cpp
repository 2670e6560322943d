// The DevTools HTTP endpoints as the proxy serves them: routing is exact, the Host must be
// loopback, and the browser's answers reach the agent filtered, pointing at the proxy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "browser/cdp_endpoints.hpp"

namespace cloakroom::browser {
namespace {

using nlohmann::json;

CdpTargetPolicy app_only() {
    CdpTargetRule rule;
    rule.url = *UrlPattern::parse("http://127.0.0.1:8080/*");
    return CdpTargetPolicy({rule});
}

const char* kList = R"([
 {"id":"AAA","type":"page","title":"App","url":"http://127.0.0.1:8080/app",
  "webSocketDebuggerUrl":"ws://127.0.0.1:9222/devtools/page/AAA",
  "devtoolsFrontendUrl":"/devtools/inspector.html?ws=127.0.0.1:9222/devtools/page/AAA"},
 {"id":"BBB","type":"page","title":"Inbox","url":"https://mail.example/inbox",
  "webSocketDebuggerUrl":"ws://127.0.0.1:9222/devtools/page/BBB"}
])";

TEST(CdpEndpoints, RoutesExactPathsOnly) {
    EXPECT_EQ(classify_cdp_request("GET", "/json", false).endpoint, CdpEndpoint::List);
    EXPECT_EQ(classify_cdp_request("GET", "/json/list?x", false).endpoint, CdpEndpoint::List);
    EXPECT_EQ(classify_cdp_request("GET", "/json/version", false).endpoint, CdpEndpoint::Version);
    EXPECT_EQ(classify_cdp_request("GET", "/json/version/", false).endpoint, CdpEndpoint::Version);
    EXPECT_EQ(classify_cdp_request("GET", "/json/protocol", false).endpoint, CdpEndpoint::Protocol);
    for (const char* refused :
         {"/JSON/list", "/json/list/", "/json//list", "/json/list%2f", "/json/../json/list",
          "/devtools/page/AAA", "/", "/json/unknown", "/json/version//", "/json/version/x"}) {
        EXPECT_EQ(classify_cdp_request("GET", refused, false).endpoint, CdpEndpoint::Refused)
            << refused;
    }
    EXPECT_EQ(classify_cdp_request("POST", "/json/list", false).endpoint, CdpEndpoint::Refused);
    auto page = classify_cdp_request("GET", "/devtools/page/AB-12", true);
    EXPECT_EQ(page.endpoint, CdpEndpoint::PageSocket);
    EXPECT_EQ(page.target_id, "AB-12");
    EXPECT_EQ(classify_cdp_request("GET", "/devtools/page/A/B", true).endpoint,
              CdpEndpoint::Refused);
    EXPECT_EQ(classify_cdp_request("GET", "/devtools/browser/x-1", true).endpoint,
              CdpEndpoint::BrowserSocket);
    auto open = classify_cdp_request("PUT", "/json/new?http://127.0.0.1:8080/a%3Fb", false);
    EXPECT_EQ(open.endpoint, CdpEndpoint::New);
    EXPECT_EQ(open.url, "http://127.0.0.1:8080/a?b");
    EXPECT_EQ(classify_cdp_request("GET", "/json/close/BBB", false).target_id, "BBB");
}

TEST(CdpEndpoints, HostMustBeLoopback) {
    for (const char* ok : {"localhost", "localhost:9229", "127.0.0.1:1", "[::1]:9229", "[::1]"}) {
        EXPECT_TRUE(is_loopback_host_header(ok)) << ok;
    }
    for (const char* bad :
         {"", "evil.example", "evil.example:9229", "127.0.0.1.evil.example", "localhost.evil",
          "127.0.0.2", "[::1]x", "localhost:x", "0.0.0.0:9229"}) {
        EXPECT_FALSE(is_loopback_host_header(bad)) << bad;
    }
}

TEST(CdpEndpoints, ListShowsAllowedTargetsThroughTheProxy) {
    auto body = filter_target_list(kList, app_only(), "127.0.0.1:9229");
    ASSERT_TRUE(body);
    json list = json::parse(*body);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["id"], "AAA");
    EXPECT_EQ(list[0]["webSocketDebuggerUrl"], "ws://127.0.0.1:9229/devtools/page/AAA");
    EXPECT_FALSE(list[0].contains("devtoolsFrontendUrl"));
    EXPECT_EQ(body->find("9222"), std::string::npos);
    EXPECT_EQ(body->find("mail.example"), std::string::npos);
    EXPECT_FALSE(filter_target_list("{}", app_only(), "x"));
    EXPECT_FALSE(filter_target_list("not json", app_only(), "x"));
}

TEST(CdpEndpoints, VersionPointsAtTheProxy) {
    const char* version =
        R"({"Browser":"Chrome/1","webSocketDebuggerUrl":"ws://127.0.0.1:9222/devtools/browser/abc-1"})";
    auto body = rewrite_version(version, "localhost:9229");
    ASSERT_TRUE(body);
    EXPECT_EQ(json::parse(*body)["webSocketDebuggerUrl"],
              "ws://localhost:9229/devtools/browser/abc-1");
    EXPECT_EQ(browser_socket_path(version), "/devtools/browser/abc-1");
    EXPECT_FALSE(browser_socket_path(R"({"webSocketDebuggerUrl":"ws://x/devtools/browser/a?b"})"));
}

TEST(CdpEndpoints, NewTargetIsShownOnlyWhenAllowed) {
    EXPECT_TRUE(filter_target(R"({"id":"N","type":"page","title":"","url":"about:blank"})",
                              app_only(), "127.0.0.1:9229", true));
    EXPECT_FALSE(filter_target(R"({"id":"N","type":"page","title":"","url":"about:blank"})",
                               app_only(), "127.0.0.1:9229", false));
    EXPECT_FALSE(
        filter_target(R"({"id":"N","type":"page","title":"","url":"https://mail.example/"})",
                      app_only(), "127.0.0.1:9229", true));
}

}  // namespace
}  // namespace cloakroom::browser
