#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "secrets/secret_ref.hpp"

namespace cloakroom::secrets {
namespace {

using ::testing::HasSubstr;

TEST(SecretRefParse, FileReference) {
    auto ref = parse_secret_ref("file:github.agent-sandbox.push-token");
    ASSERT_TRUE(ref.ok()) << ref.error().message;
    EXPECT_EQ(ref->provider, Provider::File);
    EXPECT_EQ(ref->name, "github.agent-sandbox.push-token");
    EXPECT_TRUE(ref->argv.empty());
    EXPECT_EQ(ref->text(), "file:github.agent-sandbox.push-token");
}

TEST(SecretRefParse, EnvReference) {
    auto ref = parse_secret_ref("env:STRIPE_KEY");
    ASSERT_TRUE(ref.ok());
    EXPECT_EQ(ref->provider, Provider::Env);
    EXPECT_EQ(ref->name, "STRIPE_KEY");
    EXPECT_EQ(ref->text(), "env:STRIPE_KEY");
    EXPECT_TRUE(parse_secret_ref("env:_x1").ok());
}

TEST(SecretRefParse, SystemdReference) {
    auto ref = parse_secret_ref("systemd:db.password");
    ASSERT_TRUE(ref.ok());
    EXPECT_EQ(ref->provider, Provider::Systemd);
    EXPECT_EQ(ref->name, "db.password");
    EXPECT_EQ(ref->text(), "systemd:db.password");
}

TEST(SecretRefParse, ExecSplitsOnWhitespaceWithoutShell) {
    auto ref = parse_secret_ref("exec:pass  show\tgithub/token");
    ASSERT_TRUE(ref.ok()) << ref.error().message;
    EXPECT_EQ(ref->provider, Provider::Exec);
    EXPECT_EQ(ref->argv, (std::vector<std::string>{"pass", "show", "github/token"}));
    EXPECT_EQ(ref->name, "pass show github/token");
    EXPECT_EQ(ref->text(), "exec:pass show github/token");
    // Shell syntax is just text: no quoting, no pipes.
    auto quoted = parse_secret_ref("exec:/bin/echo 'a b' | x");
    ASSERT_TRUE(quoted.ok());
    EXPECT_EQ(quoted->argv, (std::vector<std::string>{"/bin/echo", "'a", "b'", "|", "x"}));
}

TEST(SecretRefParse, ExecAcceptsAbsolutePathAndRejectsRelativePath) {
    EXPECT_TRUE(parse_secret_ref("exec:/usr/bin/vault read x").ok());
    auto relative = parse_secret_ref("exec:./helper");
    ASSERT_FALSE(relative.ok());
    EXPECT_EQ(relative.error().code, "secret.ref");
    EXPECT_THAT(relative.error().message, HasSubstr("absolute path"));
}

TEST(SecretRefParse, ExecMustHaveACommand) {
    for (const char* text : {"exec:", "exec:   ", "exec:\t\n"}) {
        auto ref = parse_secret_ref(text);
        ASSERT_FALSE(ref.ok()) << text;
        EXPECT_EQ(ref.error().code, "secret.ref");
        EXPECT_THAT(ref.error().message, HasSubstr("no command"));
    }
}

TEST(SecretRefParse, RoundTripsThroughText) {
    for (const char* text : {"file:a", "env:B", "systemd:c.d", "exec:/bin/cat /x"}) {
        auto ref = parse_secret_ref(text);
        ASSERT_TRUE(ref.ok()) << text;
        auto again = parse_secret_ref(ref->text());
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(*again, *ref);
        EXPECT_EQ(ref->text(), text);
    }
}

TEST(SecretRefParse, IdCharsetIsEnforced) {
    EXPECT_TRUE(parse_secret_ref("file:A-z_0.9").ok());
    for (const char* text : {"file:a b", "file:a/b", "file:../x", "file:x\\y", "file:é",
                             "systemd:a/b", "file:a:b", "file:$HOME"}) {
        auto ref = parse_secret_ref(text);
        ASSERT_FALSE(ref.ok()) << text;
        EXPECT_EQ(ref.error().code, "secret.ref") << text;
        EXPECT_THAT(ref.error().message, HasSubstr("[A-Za-z0-9._-]")) << text;
    }
}

TEST(SecretRefParse, SlashNamesTheDirectChildRule) {
    auto ref = parse_secret_ref("file:a/b");
    ASSERT_FALSE(ref.ok());
    EXPECT_THAT(ref.error().message, HasSubstr("'/' at offset 1"));
    EXPECT_THAT(ref.error().message, HasSubstr("direct child"));
}

TEST(SecretRefParse, DotAndDotDotAreRejected) {
    for (const char* text : {"file:.", "file:..", "systemd:.", "systemd:.."}) {
        auto ref = parse_secret_ref(text);
        ASSERT_FALSE(ref.ok()) << text;
        EXPECT_EQ(ref.error().code, "secret.ref");
        EXPECT_THAT(ref.error().message, HasSubstr("'.' or '..'"));
    }
    // Dots inside an ID are fine.
    EXPECT_TRUE(parse_secret_ref("file:...").ok());
    EXPECT_TRUE(parse_secret_ref("file:.hidden").ok());
}

TEST(SecretRefParse, EmptyIdIsRejected) {
    for (const char* text : {"file:", "systemd:", "env:"}) {
        auto ref = parse_secret_ref(text);
        ASSERT_FALSE(ref.ok()) << text;
        EXPECT_EQ(ref.error().code, "secret.ref");
        EXPECT_THAT(ref.error().message, HasSubstr("empty"));
    }
}

TEST(SecretRefParse, EnvNameCharset) {
    for (const char* text : {"env:1ABC", "env:A-B", "env:A B", "env:A.B", "env:A=B"}) {
        auto ref = parse_secret_ref(text);
        ASSERT_FALSE(ref.ok()) << text;
        EXPECT_EQ(ref.error().code, "secret.ref");
        EXPECT_THAT(ref.error().message, HasSubstr("[A-Za-z_][A-Za-z0-9_]*")) << text;
    }
}

TEST(SecretRefParse, UnknownProvider) {
    auto ref = parse_secret_ref("keychain:x");
    ASSERT_FALSE(ref.ok());
    EXPECT_EQ(ref.error().code, "secret.ref");
    EXPECT_THAT(ref.error().message, HasSubstr("unknown secret provider 'keychain'"));
    // Providers are lowercase only.
    EXPECT_FALSE(parse_secret_ref("FILE:x").ok());
}

TEST(SecretRefParse, MessagesDoNotEchoWhatMayBeAPastedSecret) {
    // Someone put the secret itself where a reference belongs.
    auto bare = parse_secret_ref("ghp_CANARYabc123");
    ASSERT_FALSE(bare.ok());
    EXPECT_THAT(bare.error().message, HasSubstr("no provider prefix"));
    EXPECT_EQ(bare.error().message.find("CANARY"), std::string::npos);
    auto colon = parse_secret_ref("sk_live_CANARY:xyz");
    ASSERT_FALSE(colon.ok());
    EXPECT_EQ(colon.error().message.find("CANARY"), std::string::npos);
}

TEST(SecretRefMake, TableFormProviders) {
    auto env = make_secret_ref("env", "X");
    ASSERT_TRUE(env.ok());
    EXPECT_EQ(*env, *parse_secret_ref("env:X"));
    auto file = make_secret_ref("file", "a.b");
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->provider, Provider::File);
    auto systemd = make_secret_ref("systemd", "cred");
    ASSERT_TRUE(systemd.ok());
    EXPECT_EQ(systemd->provider, Provider::Systemd);
    auto exec = make_secret_ref("exec", "op read op://vault/item");
    ASSERT_TRUE(exec.ok());
    EXPECT_EQ(exec->argv, (std::vector<std::string>{"op", "read", "op://vault/item"}));
}

TEST(SecretRefMake, TableFormValidatesLikeText) {
    EXPECT_EQ(make_secret_ref("file", "../x").error().code, "secret.ref");
    EXPECT_EQ(make_secret_ref("env", "9x").error().code, "secret.ref");
    EXPECT_EQ(make_secret_ref("exec", "").error().code, "secret.ref");
    auto unknown = make_secret_ref("vault", "x");
    ASSERT_FALSE(unknown.ok());
    EXPECT_THAT(unknown.error().message, HasSubstr("'vault'"));
}

}  // namespace
}  // namespace cloakroom::secrets
