// agent-creds compatibility: the agent-creds.toml and vault.toml snippets from its README, as
// they are, load into the same model as cloakroom.toml.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace cloakroom::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Environment test_env() {
    return Environment(Environment::Variables{{"HOME", "/home/agent"}});
}

Config parse_ok(std::string_view toml, std::string_view name) {
    auto result = parse_config_string(toml, name, test_env());
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? std::move(*result) : Config{};
}

std::string error_of(std::string_view toml, std::string_view name) {
    auto result = parse_config_string(toml, name, test_env());
    EXPECT_FALSE(result.ok()) << "accepted:\n" << toml;
    return result.ok() ? "" : result.error().message;
}

// README, "Quick Start".
constexpr std::string_view kQuickStartProject = R"([sandbox]
name = "myproject"

[upstream."api.anthropic.com"]
[upstream."claude.ai"]
[upstream."platform.claude.com"]

[[browser_target]]
url = "https://claude.ai/oauth/authorize*"

[[browser_target]]
url = "http://localhost:*"
)";

// README, "Configuration: agent-creds.toml (per-project)".
constexpr std::string_view kProject = R"([sandbox]
name = "myproject"
# runtime = "runc"  # default is gVisor; use runc if runsc not installed
# memory = "8g"     # docker --memory limit (e.g., "8g", "512m")
# cpus = "4"        # docker --cpus limit (e.g., "4", "1.5")

[upstream."api.stripe.com"]
[upstream."pocketbase.example.com"]
)";

// README, "vault.toml (vault service)".
constexpr std::string_view kVault = R"([credentials."api.stripe.com"]
type = "bearer"
token = { provider = "env", name = "STRIPE_API_KEY" }

[credentials."pocketbase.example.com"]
type = "basic"
username = { provider = "env", name = "PB_USERNAME" }
password = { provider = "env", name = "PB_PASSWORD" }
)";

// README, "Browser Forwarding" and "Chrome DevTools Protocol".
constexpr std::string_view kBrowser = R"([sandbox]
use_host_browser = true  # default

# URL allow-list (required - empty = all blocked)
[[browser_target]]
url = "*accounts.google.com/o/oauth*"

[[browser_target]]
url = "http://localhost:*"
)";

constexpr std::string_view kCdp = R"([sandbox]
use_host_browser_cdp = true  # default

# Target allow-list (required - empty = all blocked)
[[cdp_target]]
type = "page"
title = "*My App*"

[[cdp_target]]
url = "*github.com*"
)";

TEST(AgentCreds, QuickStartUpstreamsBecomeAllowedHosts) {
    Config config = parse_ok(kQuickStartProject, "agent-creds.toml");
    EXPECT_THAT(config.allowed_hosts,
                ElementsAre("api.anthropic.com", "claude.ai", "platform.claude.com"));
    EXPECT_THAT(config.services, IsEmpty());
    EXPECT_TRUE(config.is_allowed_host("claude.ai"));
    EXPECT_TRUE(config.is_allowed_host("Claude.AI:443"));
    EXPECT_FALSE(config.is_allowed_host("example.com"));
}

TEST(AgentCreds, ProjectSnippetParses) {
    Config config = parse_ok(kProject, "agent-creds.toml");
    EXPECT_THAT(config.allowed_hosts, ElementsAre("api.stripe.com", "pocketbase.example.com"));
}

TEST(AgentCreds, SandboxSettingsAreIgnored) {
    Config config = parse_ok(
        "[sandbox]\nname = \"p\"\nruntime = \"runc\"\nmemory = \"8g\"\ncpus = \"4\"\n"
        "use_host_browser = false\n[upstream.\"api.stripe.com\"]\n",
        "agent-creds.toml");
    EXPECT_THAT(config.allowed_hosts, ElementsAre("api.stripe.com"));
    EXPECT_FALSE(config.gateway.strict);
}

TEST(AgentCreds, BrowserAndCdpTargetsConfigureTheBrowserBridge) {
    Config browser = parse_ok(kBrowser, "agent-creds.toml");
    EXPECT_THAT(browser.allowed_hosts, IsEmpty());
    ASSERT_EQ(browser.browser.open_targets.size(), 2u);
    EXPECT_EQ(browser.browser.open_targets[0].text(), "*accounts.google.com/o/oauth*");
    auto oauth = browser::parse_browser_url("https://accounts.google.com/o/oauth2/auth?x=1");
    ASSERT_TRUE(oauth.ok());
    EXPECT_TRUE(browser.browser.open_targets[0].matches(*oauth));

    Config cdp = parse_ok(kCdp, "agent-creds.toml");
    EXPECT_THAT(cdp.allowed_hosts, IsEmpty());
    ASSERT_EQ(cdp.browser.cdp_targets.size(), 2u);
    EXPECT_EQ(cdp.browser.cdp_targets[0].type, "page");
    EXPECT_EQ(cdp.browser.cdp_targets[0].title, "*My App*");
    EXPECT_FALSE(cdp.browser.cdp_targets[0].url.has_value());
    ASSERT_TRUE(cdp.browser.cdp_targets[1].url.has_value());
    EXPECT_TRUE(cdp.browser.cdp_targets[1].url->matches_text("https://github.com/x"));
    EXPECT_FALSE(cdp.browser.cdp_targets[1].url->matches_text("https://evil.example/?github.com"));
}

TEST(AgentCreds, BadBrowserTargetsAreLoadErrorsWithTheirLine) {
    auto result = parse_config_string("[[browser_target]]\nurl = \"https://user@x.example/\"\n",
                                      "agent-creds.toml",
                                      Environment(Environment::Variables{{"HOME", "/h"}}));
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.error().message.find("agent-creds.toml:2"), std::string::npos)
        << result.error().message;
    EXPECT_NE(result.error().message.find("userinfo"), std::string::npos) << result.error().message;
    auto missing = parse_config_string("[[browser_target]]\nurl_typo = \"x\"\n", "agent-creds.toml",
                                       Environment(Environment::Variables{{"HOME", "/h"}}));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("needs a url"), std::string::npos)
        << missing.error().message;
}

TEST(CloakroomBrowser, BrowserTableConfiguresTheBridge) {
    Config config = parse_ok(R"([browser]
cdp_upstream = "127.0.0.1:9222"
cdp_listen = "127.0.0.1:9229"
open_command = ["/usr/bin/firefox", "--new-tab"]

[[browser.target]]
url = "http://localhost:*"

[[browser.cdp_target]]
type = "page"
url = "http://127.0.0.1:*"
)",
                             "cloakroom.toml");
    ASSERT_TRUE(config.browser.cdp_upstream.has_value());
    EXPECT_EQ(config.browser.cdp_upstream->port, 9222);
    ASSERT_TRUE(config.browser.cdp_listen.has_value());
    EXPECT_EQ(config.browser.cdp_listen->port, 9229);
    EXPECT_THAT(config.browser.open_command, ElementsAre("/usr/bin/firefox", "--new-tab"));
    EXPECT_EQ(config.browser.open_targets.size(), 1u);
    EXPECT_EQ(config.browser.cdp_targets.size(), 1u);

    auto remote =
        parse_config_string("[browser]\ncdp_listen = \"0.0.0.0:9229\"\n", "cloakroom.toml",
                            Environment(Environment::Variables{{"HOME", "/h"}}));
    ASSERT_FALSE(remote.ok());
    EXPECT_NE(remote.error().message.find("loopback"), std::string::npos);
}

TEST(AgentCreds, VaultSnippetGivesServicesNamedAfterHosts) {
    Config config = parse_ok(kVault, "vault.toml");
    ASSERT_EQ(config.services.size(), 2u);

    const Service& stripe = config.services[0];
    EXPECT_EQ(stripe.name, "api.stripe.com");
    EXPECT_THAT(stripe.hosts, ElementsAre("api.stripe.com"));
    EXPECT_EQ(stripe.where, (SourceLocation{"vault.toml", 1, 1}));
    ASSERT_TRUE(stripe.credential);
    EXPECT_EQ(stripe.credential->type, CredentialType::Bearer);
    EXPECT_EQ(stripe.credential->secret, secrets::make_secret_ref("env", "STRIPE_API_KEY").value());

    const Service& pocketbase = config.services[1];
    EXPECT_EQ(pocketbase.name, "pocketbase.example.com");
    EXPECT_EQ(pocketbase.where.line, 5u);
    ASSERT_TRUE(pocketbase.credential);
    EXPECT_EQ(pocketbase.credential->type, CredentialType::Basic);
    EXPECT_TRUE(pocketbase.credential->username.empty());
    EXPECT_EQ(pocketbase.credential->username_secret,
              secrets::make_secret_ref("env", "PB_USERNAME").value());
    EXPECT_EQ(pocketbase.credential->secret,
              secrets::make_secret_ref("env", "PB_PASSWORD").value());

    // No rules: agent-creds has none, so everything is allowed (token caveats still apply).
    EXPECT_TRUE(stripe.rules.allow.empty());
    EXPECT_TRUE(stripe.rules.deny.empty());
}

TEST(AgentCreds, StrictModeEnvironmentAppliesToo) {
    auto result = parse_config_string(
        kVault, "vault.toml",
        Environment(Environment::Variables{{"HOME", "/h"}, {"STRICT_MODE", "true"}}));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_TRUE(result->gateway.strict);
}

TEST(AgentCreds, BothFilesInOneDocumentAreAccepted) {
    const std::string combined = std::string(kProject) + "\n" + std::string(kVault);
    Config config = parse_ok(combined, "combined.toml");
    EXPECT_EQ(config.services.size(), 2u);
    // Upstreams that got a credential are services now, not plain allowed hosts.
    EXPECT_THAT(config.allowed_hosts, IsEmpty());
}

struct Case {
    const char* name;
    std::string toml;
    const char* expected;
};

class AgentCredsError : public ::testing::TestWithParam<Case> {};

TEST_P(AgentCredsError, IsReportedWithFileAndLine) {
    EXPECT_THAT(error_of(GetParam().toml, "vault.toml"), HasSubstr(GetParam().expected));
}

// clang-format off
const Case kCases[] = {
    {"UnknownType", "[credentials.\"a.com\"]\ntype = \"oauth\"\ntoken = { provider = \"env\", name = \"T\" }\n", "vault.toml:2: [credentials.\"a.com\"]: credential type \"oauth\" is not one of bearer, basic"},
    {"MissingType", "[credentials.\"a.com\"]\ntoken = { provider = \"env\", name = \"T\" }\n", "vault.toml:1: [credentials.\"a.com\"]: credential needs type"},
    {"BearerWithoutToken", "[credentials.\"a.com\"]\ntype = \"bearer\"\n", "vault.toml:1: [credentials.\"a.com\"]: bearer credential needs token"},
    {"BasicWithoutPassword", "[credentials.\"a.com\"]\ntype = \"basic\"\nusername = { provider = \"env\", name = \"U\" }\n", "vault.toml:1: [credentials.\"a.com\"]: basic credential needs username and password"},
    {"BasicWithToken", "[credentials.\"a.com\"]\ntype = \"basic\"\nusername = { provider = \"env\", name = \"U\" }\npassword = { provider = \"env\", name = \"P\" }\ntoken = { provider = \"env\", name = \"T\" }\n", "vault.toml:5: [credentials.\"a.com\"]: token does not apply to a basic credential"},
    {"UnknownProvider", "[credentials.\"a.com\"]\ntype = \"bearer\"\ntoken = { provider = \"vault\", name = \"T\" }\n", "vault.toml:3: [credentials.\"a.com\"]: token: "},
    {"BadEnvName", "[credentials.\"a.com\"]\ntype = \"bearer\"\ntoken = { provider = \"env\", name = \"1X\" }\n", "vault.toml:3: [credentials.\"a.com\"]: token: "},
    {"ProviderTypo", "[credentials.\"a.com\"]\ntype = \"bearer\"\ntoken = { provder = \"env\", name = \"T\" }\n", "vault.toml:3: [credentials.\"a.com\"]: unknown key \"provder\" (did you mean \"provider\"?)"},
    {"UnknownCredentialKey", "[credentials.\"a.com\"]\ntype = \"bearer\"\ntoken = { provider = \"env\", name = \"T\" }\nheader = \"x\"\n", "vault.toml:4: [credentials.\"a.com\"]: unknown key \"header\""},
    {"BadHost", "[credentials.\"https://a.com\"]\ntype = \"bearer\"\ntoken = { provider = \"env\", name = \"T\" }\n", "vault.toml:1: [credentials.\"https://a.com\"]: host \"https://a.com\" has a scheme"},
    {"CredentialNotTable", "[credentials]\n\"a.com\" = \"env:T\"\n", "vault.toml:2: [credentials.\"a.com\"]: must be a table, not a string"},
    {"UpstreamSetting", "[upstream.\"a.com\"]\nakey = \"stripe\"\n", "vault.toml:2: [upstream.\"a.com\"]: unknown key \"akey\""},
    {"UpstreamBadHost", "[upstream.\"a.com/x\"]\n", "vault.toml:1: [upstream.\"a.com/x\"]: host \"a.com/x\" has a path"},
    {"UpstreamNotTable", "upstream = [\"a.com\"]\n", "vault.toml:1: upstream must be a table, not an array"},
    {"UnknownTopLevel", "[credential.\"a.com\"]\ntype = \"bearer\"\n", "vault.toml:1: unknown top-level key \"credential\" (did you mean \"credentials\"?)"},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(All, AgentCredsError, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace cloakroom::config
