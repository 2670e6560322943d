// `cloakroom run`: which services the session token covers, and `token_env` in the config.
#include <gtest/gtest.h>

#include <variant>

#include "config/loader.hpp"
#include "sandbox/session_scope.hpp"

namespace cloakroom::sandbox {
namespace {

const char* kConfig = R"(
[[service]]
name = "stripe"
hosts = ["api.stripe.com"]
token_env = ["STRIPE_API_KEY", "STRIPE_KEY"]
[[service]]
name = "github"
hosts = ["api.github.com", "uploads.github.com"]
token_env = ["GITHUB_TOKEN", "STRIPE_KEY"]
[[database]]
name = "app"
protocol = "postgres"
listen = "127.0.0.1:6432"
upstream = "127.0.0.1:5432"
[database.logins]
ro = { user = "app_ro" }
)";

config::Config load(const std::string& toml) {
    config::Environment env(config::Environment::Variables{{"HOME", "/home/agent"}});
    auto config = config::parse_config_string(toml, "test.toml", env);
    EXPECT_TRUE(config.ok()) << config.error().message;
    return config.ok() ? *config : config::Config{};
}

TEST(SandboxSessionScope, EverythingByDefaultWithEveryTokenEnv) {
    auto scope = session_scope(load(kConfig), {});
    ASSERT_TRUE(scope.ok());
    EXPECT_TRUE(scope->everything);
    EXPECT_TRUE(scope->caveats.empty());
    EXPECT_EQ(scope->token_env,
              (std::vector<std::string>{"STRIPE_API_KEY", "STRIPE_KEY", "GITHUB_TOKEN"}));
    EXPECT_EQ(scope->databases, std::vector<std::string>{"app"});
}

TEST(SandboxSessionScope, NamedServicesBecomeAHostsCaveat) {
    auto scope = session_scope(load(kConfig), {"github"});
    ASSERT_TRUE(scope.ok());
    EXPECT_FALSE(scope->everything);
    ASSERT_EQ(scope->caveats.size(), 1u);
    const auto* hosts = std::get_if<token::Hosts>(&scope->caveats[0]);
    ASSERT_NE(hosts, nullptr);
    ASSERT_TRUE(hosts->hosts.has_value());
    EXPECT_EQ(*hosts->hosts, (std::vector<std::string>{"api.github.com", "uploads.github.com"}));
    EXPECT_EQ(scope->token_env, (std::vector<std::string>{"GITHUB_TOKEN", "STRIPE_KEY"}));
}

TEST(SandboxSessionScope, DatabasesBecomeADbCaveat) {
    auto scope = session_scope(load(kConfig), {"app"});
    ASSERT_TRUE(scope.ok());
    ASSERT_EQ(scope->caveats.size(), 1u);
    EXPECT_EQ(std::get_if<token::Hosts>(&scope->caveats[0]), nullptr);
    EXPECT_TRUE(scope->token_env.empty());
}

TEST(SandboxSessionScope, UnknownOrMixedNamesAreUsageErrors) {
    auto unknown = session_scope(load(kConfig), {"nope"});
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("configured: stripe, github, app"), std::string::npos)
        << unknown.error().message;
    auto mixed = session_scope(load(kConfig), {"stripe", "app"});
    ASSERT_FALSE(mixed.ok());
    EXPECT_NE(mixed.error().message.find("both HTTP services and databases"), std::string::npos);
}

TEST(SandboxSessionScope, ValidityWindowIsAdded) {
    auto scope = session_scope(load(kConfig), {"stripe"});
    ASSERT_TRUE(scope.ok());
    const auto caveats = session_caveats(*scope, 1000, std::chrono::hours(8));
    ASSERT_EQ(caveats.size(), 2u);
    const auto* window = std::get_if<token::ValidityWindow>(&caveats[1]);
    ASSERT_NE(window, nullptr);
    EXPECT_EQ(window->not_before, 1000);
    EXPECT_EQ(window->not_after, 1000 + 8 * 3600);
}

TEST(SandboxSessionScope, TokenEnvNamesAreChecked) {
    config::Environment env;
    for (const char* bad : {R"(token_env = ["1BAD"])", R"(token_env = ["A-B"])",
                            R"(token_env = "STRIPE_API_KEY")", R"(token_env = [""])"}) {
        const std::string toml =
            std::string("[[service]]\nname = \"s\"\nhosts = [\"s.example\"]\n") + bad + "\n";
        auto config = config::parse_config_string(toml, "t.toml", env);
        ASSERT_FALSE(config.ok()) << bad;
        EXPECT_NE(config.error().message.find("token_env"), std::string::npos)
            << config.error().message;
    }
}

}  // namespace
}  // namespace cloakroom::sandbox

namespace cloakroom::sandbox {
namespace {

const char* kDatabases = R"(
[[service]]
name = "stripe"
hosts = ["api.stripe.com"]
token_env = ["STRIPE_API_KEY"]
[[database]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:6432"
upstream = "127.0.0.1:5432"
token_env = ["PGPASSWORD"]
[database.logins]
ro = { user = "app_ro" }
[[database]]
name = "cache"
protocol = "redis"
listen = "127.0.0.1:6380"
upstream = "127.0.0.1:6379"
token_env = ["REDISCLI_AUTH", "PGPASSWORD"]
[database.logins]
default = {}
)";

TEST(SandboxSessionScope, DatabasesNameTheirTokenVariables) {
    auto all = session_scope(load(kDatabases), {});
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->token_env,
              (std::vector<std::string>{"STRIPE_API_KEY", "PGPASSWORD", "REDISCLI_AUTH"}));
    auto cache = session_scope(load(kDatabases), {"cache"});
    ASSERT_TRUE(cache.ok());
    EXPECT_EQ(cache->token_env, (std::vector<std::string>{"REDISCLI_AUTH", "PGPASSWORD"}));
    auto pg = session_scope(load(kDatabases), {"pg"});
    ASSERT_TRUE(pg.ok());
    EXPECT_EQ(pg->token_env, (std::vector<std::string>{"PGPASSWORD"}));
}

TEST(SandboxSessionScope, DatabaseTokenEnvNamesAreChecked) {
    config::Environment env;
    for (const char* bad : {R"(token_env = ["1BAD"])", R"(token_env = "PGPASSWORD")"}) {
        const std::string toml = std::string(
                                     "[[database]]\nname = \"d\"\nprotocol = \"redis\"\n"
                                     "listen = \"127.0.0.1:6380\"\nupstream = "
                                     "\"127.0.0.1:6379\"\n") +
                                 bad + "\n[database.logins]\ndefault = {}\n";
        auto config = config::parse_config_string(toml, "t.toml", env);
        ASSERT_FALSE(config.ok()) << bad;
        EXPECT_NE(config.error().message.find("token_env"), std::string::npos)
            << config.error().message;
    }
}

}  // namespace
}  // namespace cloakroom::sandbox
