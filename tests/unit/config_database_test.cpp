// [[database]] entries: every key, defaults, and the mistakes the loader must catch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace cloakroom::config {
namespace {

using ::testing::HasSubstr;

Environment test_env() {
    return Environment(Environment::Variables{{"HOME", "/home/agent"}});
}

Config parse_ok(std::string_view toml) {
    auto result = parse_config_string(toml, "cloakroom.toml", test_env());
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? std::move(*result) : Config{};
}

std::string parse_error(std::string_view toml) {
    auto result = parse_config_string(toml, "cloakroom.toml", test_env());
    EXPECT_FALSE(result.ok());
    return result.ok() ? std::string() : result.error().message;
}

TEST(ConfigDatabase, EveryKey) {
    Config config = parse_ok(R"([[database]]
name = "app"
protocol = "postgres"
listen = "127.0.0.1:6432"
upstream = "DB.Internal:5432"
tls = "verify-full"
ca_file = "/etc/ssl/db-ca.pem"
server_name = "db.example.com"
client_tls = "optional"

[database.logins]
readonly = { user = "app_ro", password = "file:pg_ro" }
readwrite = { password = "env:PG_RW" }
trusted = {}
)");
    ASSERT_EQ(config.databases.size(), 1u);
    const Database& db = config.databases[0];
    EXPECT_EQ(db.name, "app");
    EXPECT_EQ(db.protocol, DatabaseProtocol::Postgres);
    EXPECT_EQ(db.listen.address, "127.0.0.1:6432");
    EXPECT_EQ(db.listen.port, 6432);
    EXPECT_EQ(db.upstream, "db.internal:5432");
    EXPECT_EQ(db.upstream_host, "db.internal");
    EXPECT_EQ(db.upstream_port, 5432);
    EXPECT_EQ(db.tls, DatabaseTlsMode::VerifyFull);
    ASSERT_TRUE(db.ca_file.has_value());
    EXPECT_EQ(*db.ca_file, "/etc/ssl/db-ca.pem");
    EXPECT_EQ(db.server_name, "db.example.com");
    EXPECT_EQ(db.client_tls, ClientTlsMode::Optional);
    ASSERT_EQ(db.logins.size(), 3u);
    const DatabaseLogin* ro = db.find_login("readonly");
    ASSERT_NE(ro, nullptr);
    EXPECT_EQ(ro->user, "app_ro");
    ASSERT_TRUE(ro->password.has_value());
    const DatabaseLogin* rw = db.find_login("readwrite");
    ASSERT_NE(rw, nullptr);
    EXPECT_EQ(rw->user, "readwrite");  // the login name when user is left out
    const DatabaseLogin* trusted = db.find_login("trusted");
    ASSERT_NE(trusted, nullptr);
    EXPECT_FALSE(trusted->password.has_value());
    EXPECT_EQ(db.find_login("nobody"), nullptr);
    EXPECT_EQ(config.find_database("app"), &db);
    EXPECT_EQ(config.find_database("other"), nullptr);
    // Login secrets are checked up front with the services' ones.
    EXPECT_EQ(config.secret_refs().size(), 2u);
}

TEST(ConfigDatabase, TlsDefaultsDependOnWhereTheServerIs) {
    Config config = parse_ok(R"(
[[database]]
name = "local"
protocol = "redis"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:6379"
logins = { default = { password = "file:r" } }

[[database]]
name = "remote"
protocol = "mysql"
listen = "[::1]:0"
upstream = "mysql.internal:3306"
logins = { app = { password = "file:m" } }
)");
    ASSERT_EQ(config.databases.size(), 2u);
    EXPECT_EQ(config.databases[0].tls, DatabaseTlsMode::Disable);
    EXPECT_EQ(config.databases[0].client_tls, ClientTlsMode::Off);
    EXPECT_EQ(config.databases[1].tls, DatabaseTlsMode::VerifyFull);
    EXPECT_EQ(config.databases[1].server_name, "mysql.internal");
    EXPECT_EQ(config.databases[1].listen.address, "[::1]:0");
}

TEST(ConfigDatabase, NonLoopbackListenerNeedsClientTls) {
    const std::string base = R"([[database]]
name = "app"
protocol = "postgres"
listen = "0.0.0.0:6432"
upstream = "127.0.0.1:5432"
logins = { ro = { password = "file:x" } }
)";
    EXPECT_THAT(parse_error(base), HasSubstr("client_tls = \"required\""));
    Config config = parse_ok(base + "client_tls = \"required\"\n");
    EXPECT_EQ(config.databases.at(0).client_tls, ClientTlsMode::Required);
}

TEST(ConfigDatabase, MistakesAreReportedWithLocations) {
    const std::string message = parse_error(R"([[database]]
name = "app"
protocol = "oracle"
listen = "localhost:6432"
upstream = "127.0.0.1"
tls = "maybe"
logins = { "bad name" = { password = "file:x" }, ok = { password = "nope:x" }, x = "y" }
typo_key = 1
)");
    EXPECT_THAT(message, HasSubstr("protocol \"oracle\" must be one of"));
    EXPECT_THAT(message, HasSubstr("must be an IP address and port"));
    EXPECT_THAT(message, HasSubstr("needs a port"));
    EXPECT_THAT(message, HasSubstr("tls \"maybe\" must be one of"));
    EXPECT_THAT(message, HasSubstr("login name \"bad name\""));
    EXPECT_THAT(message, HasSubstr("login \"x\" must be a table"));
    EXPECT_THAT(message, HasSubstr("typo_key"));
    EXPECT_THAT(message, HasSubstr("cloakroom.toml:"));
}

TEST(ConfigDatabase, MissingKeysAndDuplicates) {
    EXPECT_THAT(parse_error("[[database]]\nname = \"a\"\n"), HasSubstr("database needs protocol"));
    EXPECT_THAT(parse_error("[[database]]\nname = \"a\"\n"), HasSubstr("database needs logins"));
    EXPECT_THAT(parse_error(R"([[database]]
name = "a"
protocol = "redis"
listen = "127.0.0.1:7000"
upstream = "127.0.0.1:6379"
logins = { d = {} }
[[database]]
name = "a"
protocol = "redis"
listen = "127.0.0.1:7000"
upstream = "127.0.0.1:6379"
logins = { d = {} }
)"),
                ::testing::AllOf(HasSubstr("already defined"), HasSubstr("already used")));
    EXPECT_THAT(parse_error(R"([[database]]
name = "a"
protocol = "redis"
listen = "127.0.0.1:7000"
upstream = "127.0.0.1:6379"
ca_file = "/x.pem"
logins = { d = {} }
)"),
                HasSubstr("need tls = \"verify-ca\" or \"verify-full\""));
    EXPECT_THAT(parse_error(R"([[database]]
name = "a"
protocol = "redis"
listen = "127.0.0.1:7000"
upstream = "127.0.0.1:6379"
logins = {}
)"),
                HasSubstr("at least one login"));
}

}  // namespace
}  // namespace cloakroom::config
