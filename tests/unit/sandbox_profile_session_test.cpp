// A resolved profile against a configuration (sandbox/profile_session.hpp) and the git
// credential helper's pure parts (sandbox/git_credential.hpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/profile.hpp"
#include "sandbox/environment.hpp"
#include "sandbox/git_credential.hpp"
#include "sandbox/profile_session.hpp"

namespace cloakroom::sandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

config::Config load(std::string_view toml) {
    auto c = config::parse_config_string(
        toml, "cloakroom.toml",
        config::Environment(config::Environment::Variables{{"HOME", "/h"}}));
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? *c : config::Config{};
}

constexpr std::string_view kConfig = R"(
[allow]
hosts = ["pypi.org"]

[[service]]
name = "anthropic"
hosts = ["api.anthropic.com"]
credential = { type = "header", header = "x-api-key", secret = "env:ANTHROPIC_KEY" }

[[service]]
name = "gh"
hosts = ["github.com", "api.github.com"]
credential = { type = "bearer", secret = "env:GH" }

[[service]]
name = "forge"
hosts = ["git.example.com:8443"]
git_username = "oauth2"
credential = { type = "bearer", secret = "env:FORGE" }

[[database]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:6432"
upstream = "127.0.0.1:5432"
logins = { app = { user = "app" } }
)";

config::Profile profile_of(const config::Config& config, std::string_view name) {
    auto p = config::resolve_profile(name, config.profiles);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? *p : config::Profile{};
}

TEST(SandboxProfileSession, BuiltinModelApiUsesTheConfiguredServiceOwningItsHost) {
    auto config = load(kConfig);
    auto session = profile_session(config, profile_of(config, "claude"), "/h");
    ASSERT_TRUE(session.ok()) << session.error().message;
    EXPECT_TRUE(session->services_set);
    EXPECT_THAT(session->services, ElementsAre("anthropic"));
    // pypi.org is allowed by the configuration already: not an extra host.
    EXPECT_THAT(session->extra_hosts,
                ElementsAre("statsig.anthropic.com", "console.anthropic.com", "claude.ai",
                            "registry.npmjs.org", "files.pythonhosted.org"));
    EXPECT_THAT(session->writable, ElementsAre("/h/.claude", "/h/.claude.json"));
}

TEST(SandboxProfileSession, UnconfiguredModelApiIsOnlyReachable) {
    auto config = load("");
    auto session = profile_session(config, profile_of(config, "codex"), "/h");
    ASSERT_TRUE(session.ok()) << session.error().message;
    EXPECT_TRUE(session->services_set);
    EXPECT_THAT(session->services, IsEmpty());
    EXPECT_EQ(session->extra_hosts.front(), "api.openai.com");
}

TEST(SandboxProfileSession, ServicesByNameOrDatabaseAndUnknownNamesAreErrors) {
    auto config = load(std::string(kConfig) + R"(
[profile.db]
services = ["pg"]
hidden_paths = ["~/.private", "/srv/x"]
[profile.typo]
services = ["stripe"]
)");
    auto db = profile_session(config, profile_of(config, "db"), "/h");
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_THAT(db->services, ElementsAre("pg"));
    EXPECT_THAT(db->hidden, ElementsAre("/h/.private", "/srv/x"));
    auto typo = profile_session(config, profile_of(config, "typo"), "/h");
    ASSERT_FALSE(typo.ok());
    EXPECT_THAT(typo.error().message, HasSubstr("service \"stripe\" is neither"));
    EXPECT_THAT(typo.error().message, HasSubstr("anthropic, gh, forge, pg"));
    auto nohome = profile_session(config, profile_of(config, "db"), "");
    ASSERT_FALSE(nohome.ok());
    EXPECT_THAT(nohome.error().message, HasSubstr("$HOME"));
}

TEST(SandboxProfileSession, NoServicesWrittenMeansEveryConfiguredOne) {
    auto config = load(std::string(kConfig) + "[profile.p]\nallowed_hosts = [\"x.example\"]\n");
    auto session = profile_session(config, profile_of(config, "p"), "/h");
    ASSERT_TRUE(session.ok());
    EXPECT_FALSE(session->services_set);
    EXPECT_THAT(session->extra_hosts, ElementsAre("x.example"));
}

TEST(SandboxGitCredential, GitHostsAreForgesAndServicesWithAGitUsername) {
    auto config = load(kConfig);
    auto hosts = session_git_hosts(config, {"anthropic", "gh", "forge"});
    ASSERT_EQ(hosts.size(), 3u);
    EXPECT_EQ(hosts[0].host, "github.com");
    EXPECT_EQ(hosts[0].username, "x-access-token");
    EXPECT_EQ(hosts[1].host, "api.github.com");  // same service, same convention
    EXPECT_EQ(hosts[2].host, "git.example.com:8443");
    EXPECT_EQ(hosts[2].username, "oauth2");
    EXPECT_THAT(session_git_hosts(config, {"anthropic"}), IsEmpty());  // not a git host
    EXPECT_THAT(session_git_hosts(config, {"forge"}).size(), 1u);      // only the session's
}

TEST(SandboxGitCredential, ConfigVariablesResetTheUsersHelpersAndFollowExistingOnes) {
    Variables host = {{"GIT_CONFIG_COUNT", "1"},
                      {"GIT_CONFIG_KEY_0", "core.editor"},
                      {"GIT_CONFIG_VALUE_0", "vi"}};
    auto vars =
        git_config_variables({{"github.com", "x-access-token"}}, "/run/cloakroom/cloakroom", host);
    EXPECT_THAT(
        vars,
        ElementsAre(std::pair<std::string, std::string>{"GIT_CONFIG_KEY_1",
                                                        "credential.https://github.com.helper"},
                    std::pair<std::string, std::string>{"GIT_CONFIG_VALUE_1", ""},
                    std::pair<std::string, std::string>{"GIT_CONFIG_KEY_2",
                                                        "credential.https://github.com.helper"},
                    std::pair<std::string, std::string>{
                        "GIT_CONFIG_VALUE_2",
                        "!'/run/cloakroom/cloakroom' git-credential --username 'x-access-token'"},
                    std::pair<std::string, std::string>{"GIT_CONFIG_COUNT", "3"}));
    EXPECT_THAT(git_config_variables({}, "/x", host), IsEmpty());
    // A quote in a path cannot break out of the shell word git runs.
    auto odd = git_config_variables({{"h.example", "it's"}}, "/o'dd/cloakroom", {});
    EXPECT_EQ(odd[3].second, "!'/o'\\''dd/cloakroom' git-credential --username 'it'\\''s'");
}

TEST(SandboxGitCredential, GetAnswersHttpsWithTheTokenAndNothingElseDoes) {
    const std::string request = "protocol=https\nhost=github.com\npath=o/r.git\n\n";
    EXPECT_EQ(answer_git_credential("get", request, "x-access-token", "acm_tok"),
              "username=x-access-token\npassword=acm_tok\n");
    EXPECT_EQ(answer_git_credential("store", request + "password=acm_tok\n", "u", "acm_tok"), "");
    EXPECT_EQ(answer_git_credential("erase", request, "u", "acm_tok"), "");
    EXPECT_EQ(answer_git_credential("get", "protocol=http\nhost=github.com\n", "u", "acm_tok"), "");
    EXPECT_EQ(answer_git_credential("get", "host=github.com\nprotocol=httpsx\n", "u", "acm_tok"),
              "");
    EXPECT_EQ(answer_git_credential("get", request, "u", ""), "");  // outside a session
}

}  // namespace
}  // namespace cloakroom::sandbox
