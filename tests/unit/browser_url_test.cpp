// The browser bridge's URL grammar and allow-list patterns: what is matched is what is opened
// (the parse refuses every form a browser would reinterpret), and patterns match parsed parts,
// so the known raw-string glob bypasses of agent-creds do not work here.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "browser/browser_url.hpp"
#include "browser/open_decision.hpp"
#include "browser/url_pattern.hpp"

namespace cloakroom::browser {
namespace {

BrowserUrl parsed(std::string_view text) {
    auto url = parse_browser_url(text);
    EXPECT_TRUE(url.ok()) << text << ": " << (url.ok() ? "" : url.error().message);
    return url.ok() ? *url : BrowserUrl{};
}

UrlPattern pattern(std::string_view text) {
    auto p = UrlPattern::parse(text);
    EXPECT_TRUE(p.ok()) << text << ": " << (p.ok() ? "" : p.error().message);
    return p.ok() ? *p : *UrlPattern::parse("https://invalid.invalid/");
}

bool allowed(std::string_view pattern_text, std::string_view url_text) {
    auto url = parse_browser_url(url_text);
    if (!url.ok()) return false;
    return pattern(pattern_text).matches(*url);
}

TEST(BrowserUrl, ParsesTheParts) {
    BrowserUrl url = parsed("HTTPS://Accounts.Google.COM:8443/o/oauth2/auth?client_id=x&r=1#frag");
    EXPECT_EQ(url.scheme, "https");
    EXPECT_EQ(url.host, "accounts.google.com");
    EXPECT_EQ(url.port, 8443);
    EXPECT_EQ(url.path, "/o/oauth2/auth");
    EXPECT_EQ(url.query, "client_id=x&r=1");
    EXPECT_EQ(url.fragment, "frag");
    EXPECT_EQ(url.serialize(),
              "https://accounts.google.com:8443/o/oauth2/auth?client_id=x&r=1#frag");
}

TEST(BrowserUrl, DefaultsPortAndPath) {
    BrowserUrl url = parsed("http://localhost");
    EXPECT_EQ(url.port, 80);
    EXPECT_EQ(url.path, "/");
    EXPECT_EQ(url.serialize(), "http://localhost/");
    EXPECT_EQ(parsed("https://example.com.?a").host, "example.com");
    EXPECT_EQ(parsed("https://[::1]:9/x").host, "[::1]");
}

TEST(BrowserUrl, RefusesWhatABrowserWouldReadDifferently) {
    const std::vector<std::string> refused{
        "",
        "-https://example.com/",  // option injection into the opener
        "file:///etc/passwd",     // schemes other than http(s)
        "javascript:alert(1)",
        "data:text/html,<script>",
        "vscode://open",
        "chrome://settings",
        "https:example.com",             // no "//"
        "http://localhost:1@evil.com/",  // userinfo
        "https://user@accounts.google.com/",
        "https://evil.com\\@accounts.google.com/",  // backslash
        "https://accounts.google.com\\.evil.com/",
        "https://acc\tounts.google.com/",  // tab stripped by browsers
        "https://accounts google.com/",
        "https://ex%61mple.com/",  // escaped host
        "https://2130706433/",     // numeric IPv4 forms
        "https://0x7f.1/",
        "https://127.1/",
        "https://0177.0.0.1/",
        "https://127.0.0.256/",
        "https://exa_mple.com/",
        "https://example..com/",
        "https://example.com:0/",
        "https://example.com:65536/",
        "https://example.com:8x/",
        "https://[::1/",
        "https://[zz::1]/",
        "https://example.com/a/../b",  // dot segments, plain and escaped
        "https://example.com/a/%2E%2e/b",
        "https://example.com/./b",
        "https://example.com/%zz",
        "https://example.com/a<b",
        "https://example.com/\xc3\xa9",
    };
    for (const auto& text : refused) {
        auto url = parse_browser_url(text);
        EXPECT_FALSE(url.ok()) << text;
        if (!url.ok()) {
            EXPECT_EQ(url.error().code, "browser.url");
            if (text.size() > 12) {
                EXPECT_EQ(url.error().message.find(text), std::string::npos) << "quotes the URL";
            }
        }
    }
    EXPECT_FALSE(
        parse_browser_url("https://example.com/" + std::string(kMaxBrowserUrlLength, 'a')).ok());
}

TEST(BrowserUrl, KnowsLoopbackHosts) {
    EXPECT_TRUE(parsed("http://localhost:8080/cb").is_loopback());
    EXPECT_TRUE(parsed("http://127.0.0.1:8080/cb").is_loopback());
    EXPECT_TRUE(parsed("http://127.3.2.1/").is_loopback());
    EXPECT_TRUE(parsed("http://[::1]:5/").is_loopback());
    EXPECT_TRUE(parsed("http://[0:0::1]:5/").is_loopback());
    EXPECT_FALSE(parsed("http://localhost.evil.com/").is_loopback());
    EXPECT_FALSE(parsed("http://128.0.0.1/").is_loopback());
    EXPECT_FALSE(parsed("http://[::2]/").is_loopback());
}

TEST(UrlPattern, AgentCredsExamplesMatchTheirIntent) {
    EXPECT_TRUE(
        allowed("https://claude.ai/oauth/authorize*", "https://claude.ai/oauth/authorize?x=1"));
    EXPECT_FALSE(allowed("https://claude.ai/oauth/authorize*", "http://claude.ai/oauth/authorize"));
    EXPECT_FALSE(allowed("https://claude.ai/oauth/authorize*", "https://claude.ai/other"));
    EXPECT_TRUE(allowed("http://localhost:*", "http://localhost:54321/callback?code=abc"));
    EXPECT_FALSE(allowed("http://localhost:*", "http://localhost.evil.com:1/"));
    EXPECT_TRUE(
        allowed("*accounts.google.com/o/oauth*", "https://accounts.google.com/o/oauth2/auth"));
    EXPECT_TRUE(allowed("*github.com*", "https://github.com/login/oauth?x"));
    EXPECT_TRUE(allowed("*github.com*", "https://gist.github.com:444/"));
}

TEST(UrlPattern, RawStringBypassesDoNotMatch) {
    // agent-creds matches globs on the raw string; each of these would pass there.
    EXPECT_FALSE(allowed("*github.com*", "https://evil.example/?github.com"));
    EXPECT_FALSE(allowed("*github.com*", "https://evil.example/github.com"));
    EXPECT_FALSE(allowed("*github.com*", "https://evilgithub.com/"));
    EXPECT_FALSE(allowed("*github.com*", "https://github.com.evil.example/"));
    EXPECT_FALSE(
        allowed("*accounts.google.com/o/oauth*", "https://evil/?accounts.google.com/o/oauth"));
    EXPECT_FALSE(allowed("*accounts.google.com/o/oauth*", "http://accounts.google.com/o/oauth"));
    EXPECT_FALSE(allowed("https://claude.ai/*", "https://claude.ai.evil.com/"));
    EXPECT_FALSE(allowed("https://claude.ai/*", "https://claude.ai:8443/"));
}

TEST(UrlPattern, HostForms) {
    EXPECT_TRUE(allowed("https://*.example.com/*", "https://a.example.com/x"));
    EXPECT_FALSE(allowed("https://*.example.com/*", "https://example.com/x"));
    EXPECT_TRUE(allowed("https://*example.com/*", "https://example.com/x"));
    EXPECT_TRUE(allowed("https://*example.com/*", "https://a.b.example.com/x"));
    EXPECT_TRUE(allowed("https://api-*.example.com/", "https://api-eu.example.com/"));
    EXPECT_FALSE(allowed("https://api-*.example.com/", "https://api-eu.x.example.com/"));
    EXPECT_TRUE(allowed("https://*/", "https://anything.test/"));
    EXPECT_TRUE(allowed("*://example.com/", "http://example.com/"));
    EXPECT_TRUE(allowed("*://example.com/", "https://example.com/"));
    EXPECT_TRUE(allowed("http://[::1]:*", "http://[::1]:8080/cb"));
    EXPECT_TRUE(allowed("HTTPS://EXAMPLE.com/", "https://example.com/"));
}

TEST(UrlPattern, PortsAndPaths) {
    EXPECT_TRUE(allowed("https://example.com", "https://example.com/"));
    EXPECT_FALSE(allowed("https://example.com", "https://example.com/x"));
    EXPECT_FALSE(allowed("https://example.com", "https://example.com/?q"));
    EXPECT_TRUE(allowed("http://localhost:8080/cb*", "http://localhost:8080/cb?code=1"));
    EXPECT_FALSE(allowed("http://localhost:8080/cb*", "http://localhost:8081/cb"));
    EXPECT_TRUE(allowed("http://localhost:*/cb", "http://localhost:9/cb"));
    EXPECT_FALSE(allowed("http://localhost:*/cb", "http://localhost:9/cb2"));
    EXPECT_TRUE(allowed("https://example.com/a/*/c", "https://example.com/a/b/x/c"));
}

TEST(UrlPattern, ExactStringPatternsForOtherSchemes) {
    UrlPattern blank = pattern("about:blank");
    EXPECT_TRUE(blank.matches_text("about:blank"));
    EXPECT_FALSE(blank.matches_text("about:blank#x"));
    EXPECT_FALSE(blank.matches(parsed("https://example.com/")));
    EXPECT_TRUE(pattern("https://example.com/*").matches_text("https://example.com/x"));
    EXPECT_FALSE(pattern("https://example.com/*").matches_text("chrome://settings"));
}

TEST(UrlPattern, RefusesMalformedPatterns) {
    for (const char* text : {"", "https://user@example.com/", "https://exa mple.com/",
                             "https://example.com:99999/", "https://example.com:x/",
                             "https://*exa*mple.com/", "https://ex_ample.com/", "https://[::1/"}) {
        auto p = UrlPattern::parse(text);
        EXPECT_FALSE(p.ok()) << text;
        if (!p.ok()) {
            EXPECT_EQ(p.error().code, "browser.pattern");
        }
    }
}

TEST(Glob, StarMatchesAnyRun) {
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("a*c", "abbbc"));
    EXPECT_TRUE(glob_match("*My App*", "The My App page"));
    EXPECT_FALSE(glob_match("*My App*", "The my app page"));
    EXPECT_TRUE(glob_match("*a*a*a*b", std::string(5000, 'a') + "b"));
    EXPECT_FALSE(glob_match("*a*a*a*b", std::string(5000, 'a')));
    EXPECT_FALSE(glob_match("abc", "abcd"));
}

TEST(OpenDecision, OpensOnlyWhatATargetAllowsAndAsParsed) {
    std::vector<UrlPattern> targets{pattern("*accounts.google.com/o/oauth*"),
                                    pattern("http://localhost:*")};
    auto ok = decide_open("HTTPS://Accounts.Google.com/o/oauth2/auth?state=s3cr3t#x", targets);
    EXPECT_TRUE(ok.allowed);
    EXPECT_EQ(ok.url, "https://accounts.google.com/o/oauth2/auth?state=s3cr3t#x");
    EXPECT_EQ(ok.host, "accounts.google.com");
    EXPECT_EQ(ok.path, "/o/oauth2/auth");  // the audit never sees the query
    for (const char* refused :
         {"https://evil/?accounts.google.com/o/oauth", "http://localhost:1@evil.com/",
          "file:///etc/passwd", "javascript:alert(1)", "-https://accounts.google.com/o/oauth",
          "https://accounts.google.com/other"}) {
        auto decision = decide_open(refused, targets);
        EXPECT_FALSE(decision.allowed) << refused;
        EXPECT_TRUE(decision.url.empty());
        EXPECT_FALSE(decision.reason.empty());
    }
    auto none = decide_open("https://accounts.google.com/o/oauth", {});
    EXPECT_FALSE(none.allowed);
    EXPECT_NE(none.reason.find("no [[browser_target]]"), std::string::npos);
}

}  // namespace
}  // namespace cloakroom::browser
