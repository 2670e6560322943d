// Which database gateways a netns sandbox offers, and where: the session's databases at the
// gateway's own loopback address and port; what cannot be offered is a warning that says why.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "sandbox/database_listeners.hpp"

namespace cloakroom::sandbox {
namespace {

std::string database(const std::string& name, const std::string& listen,
                     const std::string& extra = "") {
    return "[[database]]\nname = \"" + name + "\"\nprotocol = \"postgres\"\nlisten = \"" + listen +
           "\"\nupstream = \"127.0.0.1:5432\"\n" + extra + "[database.logins]\nro = {}\n";
}

config::Config load(const std::string& toml) {
    config::Environment env(config::Environment::Variables{{"HOME", "/home/agent"}});
    auto config = config::parse_config_string(toml, "test.toml", env);
    EXPECT_TRUE(config.ok()) << config.error().message;
    return config.ok() ? *config : config::Config{};
}

TEST(SandboxDatabaseListeners, SameAddressAndPortAsOutside) {
    const auto config = load(database("pg", "127.0.0.1:6432") + database("v6", "[::1]:6433") +
                             database("alias", "127.0.0.9:6434"));
    const auto plan = plan_database_listeners(config, {"pg", "v6", "alias"}, SandboxPorts{});
    EXPECT_TRUE(plan.warnings.empty());
    ASSERT_EQ(plan.listeners.size(), 3u);
    EXPECT_EQ(plan.listeners[0].name, "pg");
    EXPECT_EQ(plan.listeners[0].host, "127.0.0.1");
    EXPECT_EQ(plan.listeners[0].port, 6432);
    EXPECT_FALSE(plan.listeners[0].ipv6);
    EXPECT_EQ(plan.listeners[1].host, "::1");
    EXPECT_TRUE(plan.listeners[1].ipv6);
    EXPECT_EQ(plan.listeners[2].host, "127.0.0.9");
    EXPECT_EQ(describe(plan.listeners),
              "pg at 127.0.0.1:6432 (postgres), v6 at [::1]:6433 (postgres), alias at "
              "127.0.0.9:6434 (postgres)");
}

TEST(SandboxDatabaseListeners, OnlyTheSessionsDatabases) {
    const auto config = load(database("pg", "127.0.0.1:6432") + database("crm", "127.0.0.1:6433"));
    const auto plan = plan_database_listeners(config, {"crm"}, SandboxPorts{});
    ASSERT_EQ(plan.listeners.size(), 1u);
    EXPECT_EQ(plan.listeners[0].name, "crm");
    EXPECT_TRUE(plan_database_listeners(config, {}, SandboxPorts{}).listeners.empty());
    EXPECT_TRUE(plan_database_listeners(config, {"gone"}, SandboxPorts{}).listeners.empty());
}

TEST(SandboxDatabaseListeners, WildcardsBecomeLoopback) {
    const std::string tls = "client_tls = \"required\"\n";
    const auto config =
        load(database("v4", "0.0.0.0:6432", tls) + database("v6", "[::]:6433", tls));
    const auto plan = plan_database_listeners(config, {"v4", "v6"}, SandboxPorts{});
    ASSERT_EQ(plan.listeners.size(), 2u);
    EXPECT_EQ(plan.listeners[0].host, "127.0.0.1");
    EXPECT_FALSE(plan.listeners[0].ipv6);
    EXPECT_EQ(plan.listeners[1].host, "::1");
    EXPECT_TRUE(plan.listeners[1].ipv6);
}

TEST(SandboxDatabaseListeners, WhatCannotBeOfferedIsAWarning) {
    const std::string tls = "client_tls = \"required\"\n";
    const auto config = load(
        database("lan", "10.1.2.3:6432", tls) + database("mapped", "[::ffff:127.0.0.1]:6433", tls) +
        database("random", "127.0.0.1:0") + database("proxy", "127.0.0.1:3128") +
        database("redirect", "[::1]:15001") + database("fine", "127.0.0.2:3128"));
    const auto plan = plan_database_listeners(
        config, {"lan", "mapped", "random", "proxy", "redirect", "fine"}, SandboxPorts{});
    ASSERT_EQ(plan.listeners.size(), 1u);
    EXPECT_EQ(plan.listeners[0].name, "fine");  // another loopback address: no clash
    ASSERT_EQ(plan.warnings.size(), 5u);
    EXPECT_EQ(plan.warnings[0],
              "database \"lan\" listens on 10.1.2.3:6432, not a loopback address: not reachable "
              "from the sandbox");
    EXPECT_NE(plan.warnings[1].find("\"mapped\" listens on [::ffff:127.0.0.1]:6433, not a "
                                    "loopback address"),
              std::string::npos)
        << plan.warnings[1];
    EXPECT_NE(plan.warnings[2].find("\"random\" listens on port 0"), std::string::npos);
    EXPECT_EQ(plan.warnings[3],
              "database \"proxy\" listens on 127.0.0.1:3128, which inside the sandbox is the "
              "forward proxy: not reachable from the sandbox; move it to another port");
    EXPECT_NE(plan.warnings[4].find("[::1]:15001, which inside the sandbox is the transparent"),
              std::string::npos)
        << plan.warnings[4];
}

TEST(SandboxDatabaseListeners, TheDevToolsPortIsTakenWhenTheProxyIsInside) {
    const auto config = load(database("cdpdb", "127.0.0.1:9222"));
    SandboxPorts ports;
    EXPECT_EQ(plan_database_listeners(config, {"cdpdb"}, ports).listeners.size(), 1u);
    ports.cdp = 9222;
    const auto plan = plan_database_listeners(config, {"cdpdb"}, ports);
    EXPECT_TRUE(plan.listeners.empty());
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_NE(plan.warnings[0].find("which inside the sandbox is the DevTools proxy"),
              std::string::npos)
        << plan.warnings[0];
}

}  // namespace
}  // namespace cloakroom::sandbox
