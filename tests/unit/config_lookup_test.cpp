// Host normalization and the lookups the proxy relies on: find_service, is_allowed_host,
// secret_refs; plus the environment and XDG helpers the loader uses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/authority.hpp"
#include "config/config.hpp"
#include "util/xdg.hpp"

namespace cloakroom::config {
namespace {

using ::testing::ElementsAre;

Environment test_env() {
    return Environment(Environment::Variables{{"HOME", "/home/agent"}});
}

std::string normalized(std::string_view text) {
    auto result = parse_authority(text);
    EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error().message);
    return result.ok() ? result->text() : "";
}

TEST(Authority, Normalization) {
    EXPECT_EQ(normalized("API.Stripe.COM"), "api.stripe.com");
    EXPECT_EQ(normalized("api.stripe.com."), "api.stripe.com");
    EXPECT_EQ(normalized("api.stripe.com:8443"), "api.stripe.com:8443");
    EXPECT_EQ(normalized("localhost"), "localhost");
    EXPECT_EQ(normalized("10.0.0.1:5432"), "10.0.0.1:5432");
    EXPECT_EQ(normalized("[::1]"), "[::1]");
    EXPECT_EQ(normalized("[0:0:0:0:0:0:0:1]:443"), "[::1]:443");
    EXPECT_EQ(normalized("[2001:DB8::1]"), "[2001:db8::1]");
    EXPECT_EQ(normalized("my_host.internal"), "my_host.internal");
}

TEST(Authority, Rejections) {
    for (const char* bad : {"",        "https://a.com", "a.com/x",  "a.com?x", "u@a.com", "*.a.com",
                            "a .com",  "a..com",        ".a.com",   "-a.com",  "a-.com",  "a.com:",
                            "a.com:0", "a.com:65536",   "a.com:1x", "::1",     "[::1",    "[::1]x",
                            "[zz::1]", "1.2.3.256",     "1.2.3",    "a.com.."}) {
        EXPECT_FALSE(parse_authority(bad).ok()) << bad;
    }
    EXPECT_FALSE(parse_authority(std::string(64, 'a') + ".com").ok());
    std::string long_name;  // five 50-character labels: 254 characters, one too many
    for (int i = 0; i < 5; ++i) long_name += (i ? "." : "") + std::string(50, 'a');
    EXPECT_FALSE(parse_authority(long_name).ok());
    long_name.erase(0, 1);
    EXPECT_TRUE(parse_authority(long_name).ok());
}

TEST(Authority, ListenAddress) {
    auto listen = parse_listen_address("[::]:0");
    ASSERT_TRUE(listen.ok()) << listen.error().message;
    EXPECT_EQ(listen->host, "::");
    EXPECT_EQ(listen->port, 0);
    EXPECT_FALSE(parse_listen_address("127.0.0.1").ok());
}

Config services_config() {
    auto result = parse_config_string(R"([allow]
hosts = ["pypi.org", "registry.npmjs.org:443"]

[[service]]
name = "stripe"
hosts = ["api.stripe.com", "files.stripe.com"]
credential = { type = "bearer", secret = "file:stripe.key" }

[[service]]
name = "stripe-test"
hosts = ["api.stripe.com:8443"]
credential = { type = "bearer", secret = "file:stripe.key" }

[[service]]
name = "db"
hosts = ["[::1]:5432", "10.0.0.5"]
credential = { type = "basic", username_secret = "env:PGUSER", secret = "systemd:pg" }

[[service]]
name = "maps"
hosts = ["maps.example.com"]
credential = { type = "query", param = "key", secret = "exec:pass show maps" }

[[service]]
name = "open"
hosts = ["open.example.com"]
)",
                                      "cloakroom.toml", test_env());
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? std::move(*result) : Config{};
}

std::string service_name(const Config& config, std::string_view authority) {
    const Service* service = config.find_service(authority);
    return service ? service->name : "(none)";
}

TEST(FindService, CaseInsensitiveAndTrailingDot) {
    const Config config = services_config();
    EXPECT_EQ(service_name(config, "api.stripe.com"), "stripe");
    EXPECT_EQ(service_name(config, "API.STRIPE.COM"), "stripe");
    EXPECT_EQ(service_name(config, "Files.Stripe.Com."), "stripe");
    EXPECT_EQ(service_name(config, "maps.example.com"), "maps");
    EXPECT_EQ(service_name(config, "open.example.com"), "open");
}

TEST(FindService, PortRules) {
    const Config config = services_config();
    // A bare host entry matches any port; a host:port entry wins for its port.
    EXPECT_EQ(service_name(config, "api.stripe.com:443"), "stripe");
    EXPECT_EQ(service_name(config, "api.stripe.com:8443"), "stripe-test");
    EXPECT_EQ(service_name(config, "[::1]:5432"), "db");
    EXPECT_EQ(service_name(config, "[0::1]:5432"), "db");
    EXPECT_EQ(service_name(config, "10.0.0.5:5432"), "db");
    // A host:port entry needs that port: no port (an SNI lookup) or another port do not match.
    EXPECT_EQ(service_name(config, "[::1]"), "(none)");
    EXPECT_EQ(service_name(config, "[::1]:5433"), "(none)");
}

TEST(FindService, NoMatch) {
    const Config config = services_config();
    EXPECT_EQ(service_name(config, "stripe.com"), "(none)");
    EXPECT_EQ(service_name(config, "evil-api.stripe.com"), "(none)");
    EXPECT_EQ(service_name(config, "api.stripe.com.evil.com"), "(none)");
    EXPECT_EQ(service_name(config, "pypi.org"), "(none)");
    EXPECT_EQ(service_name(config, "https://api.stripe.com"), "(none)");  // malformed
    EXPECT_EQ(service_name(config, ""), "(none)");
}

TEST(AllowedHosts, PortRulesMatchServices) {
    const Config config = services_config();
    EXPECT_TRUE(config.is_allowed_host("pypi.org"));
    EXPECT_TRUE(config.is_allowed_host("PyPI.org:443"));
    EXPECT_TRUE(config.is_allowed_host("registry.npmjs.org:443"));
    EXPECT_FALSE(config.is_allowed_host("registry.npmjs.org:80"));
    EXPECT_FALSE(config.is_allowed_host("api.stripe.com"));  // a service, not an allowed host
}

TEST(AllowedHosts, ServiceHostsAreRemovedFromTheAllowList) {
    auto result = parse_config_string(R"([allow]
hosts = ["api.stripe.com", "pypi.org", "pypi.org"]
[[service]]
name = "stripe"
hosts = ["api.stripe.com"]
)",
                                      "cloakroom.toml", test_env());
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_THAT(result->allowed_hosts, ElementsAre("pypi.org"));
}

TEST(SecretRefs, ListsEveryReferenceOnce) {
    const Config config = services_config();
    std::vector<std::string> texts;
    for (const auto& ref : config.secret_refs()) texts.push_back(ref.text());
    EXPECT_THAT(texts,
                ElementsAre("file:stripe.key", "env:PGUSER", "systemd:pg", "exec:pass show maps"));
}

TEST(SecretRefs, EmptyWithoutCredentials) {
    auto result = parse_config_string("", "cloakroom.toml", test_env());
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(result->secret_refs().empty());
}

TEST(SourceLocationText, WithAndWithoutLine) {
    EXPECT_EQ((SourceLocation{"a.toml", 3, 1}).text(), "a.toml:3");
    EXPECT_EQ((SourceLocation{"<defaults>"}).text(), "<defaults>");
}

TEST(CredentialTypeNames, AreTheConfigWords) {
    EXPECT_EQ(to_string(CredentialType::Bearer), "bearer");
    EXPECT_EQ(to_string(CredentialType::Basic), "basic");
    EXPECT_EQ(to_string(CredentialType::Header), "header");
    EXPECT_EQ(to_string(CredentialType::Query), "query");
    EXPECT_EQ(to_string(CredentialType::Template), "template");
}

TEST(EnvironmentView, Lookup) {
    const Environment env(Environment::Variables{{"A", "1"}, {"EMPTY", ""}});
    EXPECT_EQ(env.get("A"), "1");
    EXPECT_EQ(env.get("EMPTY"), "");
    EXPECT_EQ(env.get("B"), std::nullopt);
    EXPECT_EQ(env.lookup()("A"), "1");
}

TEST(EnvironmentView, FromProcessSeesRealVariables) {
    const Environment env = Environment::from_process();
    const char* path = std::getenv("PATH");
    ASSERT_NE(path, nullptr);
    EXPECT_EQ(env.get("PATH"), std::string(path));
}

TEST(Xdg, DefaultsUnderHome) {
    const Environment env = test_env();
    EXPECT_EQ(xdg::config_home(env.lookup()).value(), "/home/agent/.config");
    EXPECT_EQ(xdg::data_home(env.lookup()).value(), "/home/agent/.local/share");
    EXPECT_EQ(xdg::state_home(env.lookup()).value(), "/home/agent/.local/state");
    EXPECT_EQ(xdg::cloakroom_config_dir(env.lookup()).value(), "/home/agent/.config/cloakroom");
    EXPECT_EQ(xdg::cloakroom_data_dir(env.lookup()).value(), "/home/agent/.local/share/cloakroom");
    EXPECT_EQ(xdg::cloakroom_state_dir(env.lookup()).value(), "/home/agent/.local/state/cloakroom");
}

TEST(Xdg, AbsoluteVariablesWin) {
    const Environment env(Environment::Variables{{"HOME", "/home/agent"},
                                                 {"XDG_CONFIG_HOME", "/c"},
                                                 {"XDG_DATA_HOME", "/d"},
                                                 {"XDG_STATE_HOME", "/s"}});
    EXPECT_EQ(xdg::config_home(env.lookup()).value(), "/c");
    EXPECT_EQ(xdg::data_home(env.lookup()).value(), "/d");
    EXPECT_EQ(xdg::state_home(env.lookup()).value(), "/s");
}

TEST(Xdg, RelativeOrEmptyVariablesAreIgnored) {
    const Environment env(Environment::Variables{
        {"HOME", "/home/agent"}, {"XDG_CONFIG_HOME", "relative/dir"}, {"XDG_DATA_HOME", ""}});
    EXPECT_EQ(xdg::config_home(env.lookup()).value(), "/home/agent/.config");
    EXPECT_EQ(xdg::data_home(env.lookup()).value(), "/home/agent/.local/share");
}

TEST(Xdg, NoHomeIsAnError) {
    const Environment env(Environment::Variables{{"HOME", "not/absolute"}});
    auto result = xdg::data_home(env.lookup());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, "xdg.home");
    EXPECT_FALSE(xdg::config_home(Environment().lookup()).ok());
}

}  // namespace
}  // namespace cloakroom::config
