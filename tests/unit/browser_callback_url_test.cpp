// Which loopback port an opened login URL calls back on (docs/browser.md, "OAuth callbacks"),
// and the callback connector's request grammar: only an exact loopback callback with an explicit
// port gets a host listener, so an opened URL cannot make Cloakroom listen for anything else.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "browser/callback_url.hpp"
#include "browser/open_decision.hpp"
#include "browser/url_pattern.hpp"
#include "sandbox/connector.hpp"

using namespace cloakroom;
using browser::callback_port;

namespace {

std::optional<std::uint16_t> port_of(const std::string& text) {
    auto url = browser::parse_browser_url(text);
    EXPECT_TRUE(url.ok()) << text;
    return url.ok() ? callback_port(*url) : std::nullopt;
}

}  // namespace

TEST(CallbackUrl, TheOpenedUrlItselfOnLoopback) {
    EXPECT_EQ(port_of("http://localhost:8765/callback?code=1"), 8765);
    EXPECT_EQ(port_of("http://127.0.0.1:40001/"), 40001);
    EXPECT_EQ(port_of("http://[::1]:5000/cb"), 5000);
    // No explicit port, another loopback address, or not loopback: nothing to listen on.
    EXPECT_EQ(port_of("http://localhost/callback"), std::nullopt);
    EXPECT_EQ(port_of("http://127.0.0.2:8765/callback"), std::nullopt);
    EXPECT_EQ(port_of("http://localhost.evil.com:8765/callback"), std::nullopt);
    EXPECT_EQ(port_of("https://accounts.example.com:8765/o/oauth2"), std::nullopt);
}

TEST(CallbackUrl, TheRedirectUriParameter) {
    const std::string base = "https://accounts.example.com/o/oauth2/auth?client_id=x&";
    EXPECT_EQ(port_of(base + "redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcallback&state=s"),
              8765);
    EXPECT_EQ(port_of(base + "redirect_uri=http://127.0.0.1:9001/cb"), 9001);
    EXPECT_EQ(port_of(base + "redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%3A7000%2F"), 7000);
    // Only the exact parameter name.
    EXPECT_EQ(port_of(base + "xredirect_uri=http%3A%2F%2Flocalhost%3A8765%2F"), std::nullopt);
    EXPECT_EQ(port_of(base + "state=redirect_uri%3Dhttp%3A%2F%2Flocalhost%3A8765"), std::nullopt);
    // A redirect elsewhere or with userinfo tricks: none.
    EXPECT_EQ(port_of(base + "redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"), std::nullopt);
    EXPECT_EQ(port_of(base + "redirect_uri=http%3A%2F%2Flocalhost%3A1%40evil.com%2F"),
              std::nullopt);
    // Decoded once, as the provider does: a double-encoded redirect is not a URL.
    EXPECT_EQ(port_of(base + "redirect_uri=http%253A%252F%252Flocalhost%253A8765%252F"),
              std::nullopt);
    // Two redirect_uri naming different ports are ambiguous; the same port twice is fine.
    EXPECT_EQ(
        port_of(base + "redirect_uri=http://localhost:1111/&redirect_uri=http://localhost:2222/"),
        std::nullopt);
    EXPECT_EQ(
        port_of(base + "redirect_uri=http://localhost:1111/&redirect_uri=http://127.0.0.1:1111/"),
        1111);
}

TEST(CallbackUrl, RedirectUriWinsOverALoopbackProvider) {
    // A provider (or a local app) on loopback: the callback is where redirect_uri points.
    auto url = browser::parse_browser_url(
        "http://127.0.0.1:4000/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcb");
    ASSERT_TRUE(url.ok());
    EXPECT_EQ(callback_port(*url), 8765);
    EXPECT_TRUE(browser::callback_from_redirect(*url));
    auto page = browser::parse_browser_url("http://127.0.0.1:4000/app?x=1");
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(callback_port(*page), 4000);
    EXPECT_FALSE(browser::callback_from_redirect(*page));
    // Ambiguous redirects do not fall back to the URL's own port.
    auto two = browser::parse_browser_url(
        "http://127.0.0.1:4000/a?redirect_uri=http://localhost:1/&redirect_uri=http://"
        "localhost:2/");
    ASSERT_TRUE(two.ok());
    EXPECT_EQ(callback_port(*two), std::nullopt);
}

TEST(CallbackUrl, OpenDecisionCarriesThePortOnlyWhenAllowed) {
    std::vector<browser::UrlPattern> targets;
    auto pattern = browser::UrlPattern::parse("https://accounts.example.com/o/*");
    ASSERT_TRUE(pattern.ok());
    targets.push_back(*pattern);
    auto allowed = browser::decide_open(
        "https://accounts.example.com/o/auth?redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcb",
        targets);
    ASSERT_TRUE(allowed.allowed) << allowed.reason;
    EXPECT_EQ(allowed.callback_port, 8765);
    auto refused = browser::decide_open(
        "https://evil.example.com/o/auth?redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcb", targets);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.callback_port, std::nullopt);
}

TEST(CallbackConnector, RequestGrammar) {
    auto request = sandbox::parse_connect_request("connect 8765 6");
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->port, 8765);
    EXPECT_TRUE(request->ipv6_first);
    EXPECT_EQ(sandbox::parse_connect_request("connect 65535 4")->port, 65535);
    for (const char* bad : {"connect 0 4", "connect 65536 4", "connect 08765 4", "connect 8765 5",
                            "connect 8765", "connect -1 4", "connect 87a5 4", "Connect 8765 4",
                            "connect 8765 4 ", "connect  8765 4", "connect 123456 4", ""}) {
        EXPECT_FALSE(sandbox::parse_connect_request(bad).has_value()) << bad;
    }
}
