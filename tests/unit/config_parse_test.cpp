// Valid cloakroom.toml input: every key, defaults, credential types, environment overrides.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace cloakroom::config {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using ::testing::ElementsAre;

Environment test_env(Environment::Variables extra = {}) {
    extra.emplace("HOME", "/home/agent");
    return Environment(std::move(extra));
}

Config parse_ok(std::string_view toml, const Environment& env = test_env()) {
    auto result = parse_config_string(toml, "cloakroom.toml", env);
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? std::move(*result) : Config{};
}

TEST(ConfigParse, AuditLogAndPublicDirFollowDataDirUnlessSet) {
    Config moved = parse_ok("[gateway]\ndata_dir = \"/srv/cr\"\n");
    EXPECT_EQ(moved.gateway.audit_log, "/srv/cr/audit.log");
    EXPECT_EQ(moved.gateway.public_dir, "/srv/cr/public");
    Config stdout_audit =
        parse_ok("[gateway]\naudit_log = \"-\"\npublic_dir = \"/usr/local/share/cr\"\n");
    EXPECT_EQ(stdout_audit.gateway.audit_log, "-");
    EXPECT_EQ(stdout_audit.gateway.public_dir, "/usr/local/share/cr");
}

TEST(ConfigParse, EmptyFileGivesDefaults) {
    Config config = parse_ok("");
    EXPECT_EQ(config.gateway.proxy.address, "127.0.0.1:3128");
    EXPECT_EQ(config.gateway.proxy.host, "127.0.0.1");
    EXPECT_EQ(config.gateway.proxy.port, 3128);
    EXPECT_FALSE(config.gateway.strict);
    // Audit records go to a private file by default, not stdout; public files beside it.
    EXPECT_EQ(config.gateway.audit_log, "/home/agent/.local/share/cloakroom/audit.log");
    EXPECT_EQ(config.gateway.public_dir, "/home/agent/.local/share/cloakroom/public");
    EXPECT_EQ(config.token.prefix, "acm_");
    EXPECT_EQ(config.token.location, "cloakroom");
    EXPECT_EQ(config.token.default_validity, hours(24));
    EXPECT_EQ(config.token.max_validity, hours(24 * 30));
    EXPECT_EQ(config.token.signing_key_id, "primary");
    EXPECT_EQ(config.data_dir, "/home/agent/.local/share/cloakroom");
    EXPECT_EQ(config.token.key_dir, "/home/agent/.local/share/cloakroom/keys");
    EXPECT_EQ(config.secrets.dir, "/home/agent/.config/cloakroom/secrets");
    EXPECT_EQ(config.secrets.exec_timeout, std::chrono::milliseconds(5000));
    EXPECT_TRUE(config.services.empty());
    EXPECT_TRUE(config.allowed_hosts.empty());
    EXPECT_THAT(config.sources, ElementsAre("cloakroom.toml"));
}

TEST(ConfigParse, XdgVariablesChooseDefaultDirectories) {
    Config config = parse_ok(
        "", test_env({{"XDG_DATA_HOME", "/xdg/data"}, {"XDG_CONFIG_HOME", "/xdg/config"}}));
    EXPECT_EQ(config.data_dir, "/xdg/data/cloakroom");
    EXPECT_EQ(config.token.key_dir, "/xdg/data/cloakroom/keys");
    EXPECT_EQ(config.secrets.dir, "/xdg/config/cloakroom/secrets");
}

TEST(ConfigParse, EveryGatewayTokenAndSecretsKey) {
    Config config = parse_ok(R"([gateway]
listen = "[::1]:8080"
strict = true
audit_log = "/var/log/cloakroom/audit.jsonl"
data_dir = "/srv/cloakroom"

[token]
prefix = "tkt_"
location = "https://gateway.example"
default_validity = "1h30m"
max_validity = 604800
key_dir = "~/keys"
signing_key = "key-2024.1"

[secrets]
dir = "/etc/cloakroom/secrets"
exec_timeout = "2s"

[allow]
hosts = ["PyPI.org", "files.pythonhosted.org."]
)");
    EXPECT_EQ(config.gateway.proxy.address, "[::1]:8080");
    EXPECT_EQ(config.gateway.proxy.host, "::1");
    EXPECT_EQ(config.gateway.proxy.port, 8080);
    EXPECT_TRUE(config.gateway.strict);
    EXPECT_EQ(config.gateway.audit_log, "/var/log/cloakroom/audit.jsonl");
    EXPECT_EQ(config.data_dir, "/srv/cloakroom");
    EXPECT_EQ(config.token.prefix, "tkt_");
    EXPECT_EQ(config.token.location, "https://gateway.example");
    EXPECT_EQ(config.token.default_validity, seconds(5400));
    EXPECT_EQ(config.token.max_validity, hours(24 * 7));
    EXPECT_EQ(config.token.key_dir, "/home/agent/keys");
    EXPECT_EQ(config.token.signing_key_id, "key-2024.1");
    EXPECT_EQ(config.secrets.dir, "/etc/cloakroom/secrets");
    EXPECT_EQ(config.secrets.exec_timeout, std::chrono::milliseconds(2000));
    EXPECT_THAT(config.allowed_hosts, ElementsAre("pypi.org", "files.pythonhosted.org"));
}

TEST(ConfigParse, KeyDirFollowsDataDir) {
    Config config = parse_ok("[gateway]\ndata_dir = \"/srv/cr\"\n");
    EXPECT_EQ(config.token.key_dir, "/srv/cr/keys");
}

TEST(ConfigParse, ListenPortZeroMeansAnyPort) {
    Config config = parse_ok("[gateway]\nlisten = \"localhost:0\"\n");
    EXPECT_EQ(config.gateway.proxy.host, "localhost");
    EXPECT_EQ(config.gateway.proxy.port, 0);
}

TEST(ConfigParse, ServiceWithEverything) {
    Config config = parse_ok(R"([[service]]
name = "stripe"
hosts = ["API.Stripe.com", "files.stripe.com:8443"]
upstream_ca = "/etc/ssl/stripe-ca.pem"
connect_to = "127.0.0.1:8443"
allow_private = true
credential = { type = "bearer", secret = "file:stripe.key" }

[[service.allow]]
methods = ["get", "HEAD"]
paths = ["/v1/customers/**"]

[[service.deny]]
methods = ["DELETE"]
)");
    ASSERT_EQ(config.services.size(), 1u);
    const Service& service = config.services[0];
    EXPECT_EQ(service.name, "stripe");
    EXPECT_THAT(service.hosts, ElementsAre("api.stripe.com", "files.stripe.com:8443"));
    EXPECT_EQ(service.upstream_ca, std::filesystem::path("/etc/ssl/stripe-ca.pem"));
    EXPECT_EQ(service.connect_to, "127.0.0.1:8443");
    EXPECT_TRUE(service.allow_private);
    EXPECT_EQ(service.where, (SourceLocation{"cloakroom.toml", 1, 1}));
    ASSERT_TRUE(service.credential);
    EXPECT_EQ(service.credential->type, CredentialType::Bearer);
    EXPECT_EQ(service.credential->secret->text(), "file:stripe.key");
    ASSERT_EQ(service.rules.allow.size(), 1u);
    EXPECT_THAT(service.rules.allow[0].methods, ElementsAre("GET", "HEAD"));
    ASSERT_EQ(service.rules.allow[0].paths.size(), 1u);
    EXPECT_EQ(service.rules.allow[0].paths[0].text(), "/v1/customers/**");
    ASSERT_EQ(service.rules.deny.size(), 1u);
    EXPECT_THAT(service.rules.deny[0].methods, ElementsAre("DELETE"));
    EXPECT_TRUE(service.rules.deny[0].paths.empty());
    // The parsed rules behave as written.
    EXPECT_TRUE(service.rules.evaluate("GET", "/v1/customers/cus_1").allowed);
    EXPECT_FALSE(service.rules.evaluate("POST", "/v1/customers/cus_1").allowed);
    EXPECT_FALSE(service.rules.evaluate("GET", "/v1/charges").allowed);
}

TEST(ConfigParse, ServiceWithoutCredentialOrRules) {
    Config config = parse_ok("[[service]]\nname = \"docs\"\nhosts = [\"docs.example.com\"]\n");
    ASSERT_EQ(config.services.size(), 1u);
    EXPECT_FALSE(config.services[0].credential);
    EXPECT_FALSE(config.services[0].upstream_ca);
    EXPECT_FALSE(config.services[0].connect_to);
    EXPECT_FALSE(config.services[0].allow_private);
    EXPECT_TRUE(config.services[0].rules.allow.empty());
}

Credential credential_of(std::string_view credential_toml) {
    const std::string toml =
        "[[service]]\nname = \"s\"\nhosts = [\"s.example.com\"]\n"
        "credential = " +
        std::string(credential_toml) + "\n";
    Config config = parse_ok(toml);
    if (config.services.size() != 1 || !config.services[0].credential) {
        ADD_FAILURE() << "no credential parsed from " << credential_toml;
        return {};
    }
    return *config.services[0].credential;
}

TEST(ConfigCredential, Bearer) {
    Credential c = credential_of(R"({ type = "bearer", secret = "env:STRIPE_KEY" })");
    EXPECT_EQ(c.type, CredentialType::Bearer);
    EXPECT_EQ(c.secret->provider, secrets::Provider::Env);
    EXPECT_EQ(c.secret->name, "STRIPE_KEY");
}

TEST(ConfigCredential, BasicWithLiteralUsername) {
    Credential c = credential_of(R"({ type = "basic", username = "git", secret = "file:gh.pw" })");
    EXPECT_EQ(c.type, CredentialType::Basic);
    EXPECT_EQ(c.username, "git");
    EXPECT_FALSE(c.username_secret);
    EXPECT_EQ(c.secret->text(), "file:gh.pw");
}

TEST(ConfigCredential, BasicWithSecretUsernameAndNoPassword) {
    // Stripe-style basic auth: the key is the user name, the password is empty.
    Credential c = credential_of(R"({ type = "basic", username_secret = "systemd:stripe" })");
    EXPECT_TRUE(c.username.empty());
    EXPECT_EQ(c.username_secret->provider, secrets::Provider::Systemd);
    EXPECT_FALSE(c.secret);
}

TEST(ConfigCredential, Header) {
    Credential c = credential_of(
        R"({ type = "header", header = "x-api-key", prefix = "Key ", secret = "file:k" })");
    EXPECT_EQ(c.type, CredentialType::Header);
    EXPECT_EQ(c.header, "x-api-key");
    EXPECT_EQ(c.prefix, "Key ");
    EXPECT_EQ(c.secret->text(), "file:k");
}

TEST(ConfigCredential, HeaderPrefixDefaultsToEmpty) {
    Credential c = credential_of(R"({ type = "header", header = "x-api-key", secret = "file:k" })");
    EXPECT_EQ(c.prefix, "");
}

TEST(ConfigCredential, Query) {
    Credential c =
        credential_of(R"({ type = "query", param = "api_key", secret = "exec:pass show maps" })");
    EXPECT_EQ(c.type, CredentialType::Query);
    EXPECT_EQ(c.param, "api_key");
    EXPECT_EQ(c.secret->provider, secrets::Provider::Exec);
}

TEST(ConfigCredential, Template) {
    Credential c = credential_of(
        R"({ type = "template", header = "Authorization", template = "token {secret}", secret = "file:gh" })");
    EXPECT_EQ(c.type, CredentialType::Template);
    EXPECT_EQ(c.header, "Authorization");
    EXPECT_EQ(c.template_text, "token {secret}");
}

TEST(ConfigCredential, TemplateHeaderDefaultsToAuthorization) {
    Credential c =
        credential_of(R"({ type = "template", template = "Bot {secret}", secret = "file:d" })");
    EXPECT_EQ(c.header, "Authorization");
}

TEST(ConfigCredential, ProviderTableFormAlsoAccepted) {
    Credential c =
        credential_of(R"({ type = "bearer", secret = { provider = "env", name = "K" } })");
    EXPECT_EQ(c.secret->provider, secrets::Provider::Env);
    EXPECT_EQ(c.secret->name, "K");
}

TEST(ConfigCredential, StandardTableForm) {
    Config config = parse_ok(R"([[service]]
name = "gh"
hosts = ["api.github.com"]
[service.credential]
type = "template"
template = "token {secret}"
secret = "file:gh.token"
)");
    ASSERT_EQ(config.services.size(), 1u);
    EXPECT_EQ(config.services[0].credential->type, CredentialType::Template);
}

TEST(ConfigEnvironment, StrictModeOverridesToTrue) {
    for (const char* value : {"true", "1", "TRUE"}) {
        Config config = parse_ok("", test_env({{"STRICT_MODE", value}}));
        EXPECT_TRUE(config.gateway.strict) << value;
    }
}

TEST(ConfigEnvironment, StrictModeFalseDoesNotWeakenTheFile) {
    Config config = parse_ok("[gateway]\nstrict = true\n", test_env({{"STRICT_MODE", "false"}}));
    EXPECT_TRUE(config.gateway.strict);
    Config unset = parse_ok("", test_env({{"STRICT_MODE", "0"}}));
    EXPECT_FALSE(unset.gateway.strict);
}

TEST(ConfigEnvironment, StrictModeGarbageIsAnError) {
    auto result = parse_config_string("", "cloakroom.toml", test_env({{"STRICT_MODE", "yes"}}));
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message,
                ::testing::HasSubstr("$STRICT_MODE: \"yes\" is not one of"));
}

TEST(ConfigEnvironment, TokenPrefixOverridesFile) {
    Config config = parse_ok("[token]\nprefix = \"abc_\"\n", test_env({{"TOKEN_PREFIX", "xyz_"}}));
    EXPECT_EQ(config.token.prefix, "xyz_");
}

TEST(ConfigEnvironment, BadTokenPrefixIsAnError) {
    auto result = parse_config_string("", "cloakroom.toml", test_env({{"TOKEN_PREFIX", "a b"}}));
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message, ::testing::HasSubstr("$TOKEN_PREFIX: \"a b\" may only"));
}

TEST(ConfigEmbeddedDefault, ParsesToTheModelDefaults) {
    const Environment env = test_env();
    auto embedded = parse_config_string(embedded_default_config(), kEmbeddedDefaultName, env);
    ASSERT_TRUE(embedded.ok()) << embedded.error().message;
    Config empty = parse_ok("", env);
    EXPECT_EQ(embedded->gateway.proxy.address, empty.gateway.proxy.address);
    EXPECT_EQ(embedded->gateway.proxy.address, "127.0.0.1:3128");
    EXPECT_EQ(embedded->gateway.strict, empty.gateway.strict);
    EXPECT_EQ(embedded->gateway.audit_log, empty.gateway.audit_log);
    EXPECT_EQ(embedded->token.prefix, empty.token.prefix);
    EXPECT_EQ(embedded->token.location, empty.token.location);
    EXPECT_EQ(embedded->token.default_validity, empty.token.default_validity);
    EXPECT_EQ(embedded->token.max_validity, empty.token.max_validity);
    EXPECT_EQ(embedded->token.key_dir, empty.token.key_dir);
    EXPECT_EQ(embedded->token.signing_key_id, empty.token.signing_key_id);
    EXPECT_EQ(embedded->secrets.dir, empty.secrets.dir);
    EXPECT_EQ(embedded->secrets.exec_timeout, empty.secrets.exec_timeout);
    EXPECT_EQ(embedded->data_dir, empty.data_dir);
    EXPECT_TRUE(embedded->services.empty());
    EXPECT_THAT(embedded->sources, ElementsAre("<embedded default>"));
}

TEST(ConfigEmbeddedDefault, StillHonoursEnvironmentOverrides) {
    auto config = parse_config_string(embedded_default_config(), kEmbeddedDefaultName,
                                      test_env({{"STRICT_MODE", "true"}, {"TOKEN_PREFIX", "t_"}}));
    ASSERT_TRUE(config.ok()) << config.error().message;
    EXPECT_TRUE(config->gateway.strict);
    EXPECT_EQ(config->token.prefix, "t_");
}

}  // namespace
}  // namespace cloakroom::config
