// `mint` / `attenuate` warn about caveat values that name nothing configured (still minting).
#include <gtest/gtest.h>

#include "cli/scope_warnings.hpp"
#include "config/loader.hpp"

namespace cloakroom::cli {
namespace {

config::Config load() {
    config::Environment env(config::Environment::Variables{{"HOME", "/home/agent"}});
    auto config = config::parse_config_string(R"(
[allow]
hosts = ["pypi.org"]
[[service]]
name = "stripe"
hosts = ["api.stripe.com", "files.stripe.com:8443"]
[[database]]
name = "app"
protocol = "postgres"
listen = "127.0.0.1:6432"
upstream = "127.0.0.1:5432"
[database.logins]
readonly = { user = "app_ro" }
[[database]]
name = "cache"
protocol = "redis"
listen = "127.0.0.1:6380"
upstream = "127.0.0.1:6379"
[database.logins]
worker = { user = "default" }
)",
                                              "t.toml", env);
    EXPECT_TRUE(config.ok()) << config.error().message;
    return config.ok() ? *config : config::Config{};
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

TEST(ScopeWarnings, ConfiguredScopesAreQuiet) {
    const auto config = load();
    CaveatFlags flags;
    flags.hosts = {"api.stripe.com", "API.STRIPE.COM", "files.stripe.com"};
    flags.db_services = {"app"};
    flags.db_logins = {"readonly"};
    EXPECT_TRUE(scope_warnings(flags, config).empty()) << joined(scope_warnings(flags, config));
    CaveatFlags none;
    EXPECT_TRUE(scope_warnings(none, config).empty());
}

TEST(ScopeWarnings, EveryUnknownValueIsNamed) {
    const auto config = load();
    CaveatFlags flags;
    flags.hosts = {"api.strpe.com", "pypi.org", "elsewhere.example"};
    flags.db_services = {"ap", "cache"};
    flags.db_logins = {"readonly", "worker", "admin"};
    const auto warnings = scope_warnings(flags, config);
    const std::string text = joined(warnings);
    ASSERT_EQ(warnings.size(), 6u) << text;
    EXPECT_NE(text.find("--hosts api.strpe.com: no configured service has this host (did you "
                        "mean api.stripe.com?)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("--hosts pypi.org: an [allow] host"), std::string::npos) << text;
    EXPECT_NE(text.find("--hosts elsewhere.example: no configured service"), std::string::npos);
    EXPECT_NE(text.find("--db ap: no [[database]] has this name (did you mean app?)"),
              std::string::npos)
        << text;
    // "readonly" belongs to app, which --db did not select (only "cache" exists of the two).
    EXPECT_NE(text.find("--db-login readonly"), std::string::npos) << text;
    EXPECT_NE(text.find("--db-login admin"), std::string::npos) << text;
    EXPECT_EQ(text.find("--db-login worker"), std::string::npos) << text;
}

TEST(ScopeWarnings, LoginsWithoutDbFlagCheckEveryDatabase) {
    const auto config = load();
    CaveatFlags flags;
    flags.db_logins = {"readonly", "worker", "root"};
    const auto warnings = scope_warnings(flags, config);
    ASSERT_EQ(warnings.size(), 1u) << joined(warnings);
    EXPECT_NE(warnings[0].find("--db-login root: no login of that name in any [[database]]"),
              std::string::npos)
        << warnings[0];
}

}  // namespace
}  // namespace cloakroom::cli
