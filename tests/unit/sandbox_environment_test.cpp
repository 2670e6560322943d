#include <gtest/gtest.h>

#include <algorithm>

#include "generated_secret.hpp"
#include "sandbox/environment.hpp"

namespace cloakroom::sandbox {
namespace {

const std::string* find(const Variables& vars, const std::string& name) {
    for (const auto& [n, v] : vars) {
        if (n == name) return &v;
    }
    return nullptr;
}

TEST(SandboxEnvironment, CredentialNamesAreRecognised) {
    for (const char* name :
         {"STRIPE_API_KEY", "openai_api_key", "GITHUB_TOKEN", "GH_TOKEN", "AWS_ACCESS_KEY_ID",
          "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "DB_PASSWORD", "SLACK_BOT_TOKEN",
          "MACAROON_SIGNING_KEY", "PGPASSWORD", "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS",
          "MY_SECRET", "CLOAKROOM_CONFIG", "GOOGLE_APPLICATION_CREDENTIALS"}) {
        EXPECT_TRUE(names_credential(name)) << name;
    }
    for (const char* name :
         {"PATH", "HOME", "TERM", "LANG", "TOKENIZERS_PARALLELISM", "EDITOR", "KEYMAP", "SHELL"}) {
        EXPECT_FALSE(names_credential(name)) << name;
    }
}

TEST(SandboxEnvironment, RemovesCredentialsAndSecretValuesKeepsTheRest) {
    const std::string secret = test::generated_secret();
    EnvironmentInputs in;
    in.host = {{"PATH", "/usr/bin"},
               {"OPENAI_API_KEY", test::generated_secret("openai")},
               {"HARMLESS_NAME", "prefix-" + secret + "-suffix"},
               {"EXACT", secret},
               {"SHORT", "ab"},
               {"FROM_ENV_REF", "whatever"},
               {"TERM", "xterm"}};
    in.secret_values = {secret, "ab"};
    in.secret_env = {"FROM_ENV_REF"};
    const auto out = sandbox_environment(in);
    EXPECT_NE(find(out.variables, "PATH"), nullptr);
    EXPECT_NE(find(out.variables, "TERM"), nullptr);
    for (const char* gone : {"OPENAI_API_KEY", "HARMLESS_NAME", "EXACT", "SHORT", "FROM_ENV_REF"}) {
        EXPECT_EQ(find(out.variables, gone), nullptr) << gone;
        EXPECT_NE(std::find(out.removed.begin(), out.removed.end(), gone), out.removed.end());
    }
    for (const auto& [name, value] : out.variables) {
        EXPECT_EQ(value.find(secret), std::string::npos) << name;
    }
}

TEST(SandboxEnvironment, ShortSecretsOnlyMatchWholeValues) {
    EnvironmentInputs in;
    in.host = {{"LANG", "en_US.UTF-8"}, {"X", "on"}};
    in.secret_values = {"on", "US"};
    const auto out = sandbox_environment(in);
    EXPECT_NE(find(out.variables, "LANG"), nullptr);
    EXPECT_EQ(find(out.variables, "X"), nullptr);
}

TEST(SandboxEnvironment, TokenReplacesTheCredentialVariables) {
    const std::string stripe = test::generated_secret("stripe");
    EnvironmentInputs in;
    in.host = {{"STRIPE_API_KEY", stripe}, {"GITHUB_TOKEN", test::generated_secret("github")}};
    in.token = "acm_session";
    in.token_env = {"STRIPE_API_KEY", "NEW_TOKEN_VAR"};
    in.secret_values = {stripe};
    const auto out = sandbox_environment(in);
    ASSERT_NE(find(out.variables, "STRIPE_API_KEY"), nullptr);
    EXPECT_EQ(*find(out.variables, "STRIPE_API_KEY"), "acm_session");
    ASSERT_NE(find(out.variables, "NEW_TOKEN_VAR"), nullptr);
    EXPECT_EQ(*find(out.variables, "NEW_TOKEN_VAR"), "acm_session");
    EXPECT_EQ(find(out.variables, "GITHUB_TOKEN"), nullptr);
    // Replaced, not removed: the summary does not list it.
    EXPECT_EQ(std::find(out.removed.begin(), out.removed.end(), "STRIPE_API_KEY"),
              out.removed.end());
}

TEST(SandboxEnvironment, GatewayVariablesWinOverTheHosts) {
    EnvironmentInputs in;
    in.host = {{"HTTPS_PROXY", "http://evil:1"}, {"SSL_CERT_FILE", "/home/u/ca.pem"}};
    in.gateway = {{"HTTPS_PROXY", "http://127.0.0.1:3128"},
                  {"SSL_CERT_FILE", "/run/cloakroom/ca-bundle.pem"}};
    const auto out = sandbox_environment(in);
    EXPECT_EQ(*find(out.variables, "HTTPS_PROXY"), "http://127.0.0.1:3128");
    EXPECT_EQ(*find(out.variables, "SSL_CERT_FILE"), "/run/cloakroom/ca-bundle.pem");
    EXPECT_EQ(std::count_if(out.variables.begin(), out.variables.end(),
                            [](const auto& v) { return v.first == "HTTPS_PROXY"; }),
              1);
}

TEST(SandboxEnvironment, WithoutATokenTokenEnvIsNotSet) {
    EnvironmentInputs in;
    in.host = {{"STRIPE_API_KEY", test::generated_secret("stripe")}};
    in.token_env = {"STRIPE_API_KEY"};
    const auto out = sandbox_environment(in);
    EXPECT_EQ(find(out.variables, "STRIPE_API_KEY"), nullptr);
}

TEST(SandboxEnvironment, EnvpStrings) {
    EXPECT_EQ(envp_strings({{"A", "1"}, {"B", "x=y"}}), (std::vector<std::string>{"A=1", "B=x=y"}));
}

}  // namespace
}  // namespace cloakroom::sandbox
