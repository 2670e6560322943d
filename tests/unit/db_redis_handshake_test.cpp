#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "db/redis/handshake.hpp"
#include "db/redis/resp.hpp"

namespace cloakroom::db::redis {
namespace {

using Args = std::vector<std::string>;

std::string reply_of(const Args& args) {
    const PreAuthStep step = interpret_pre_auth(args);
    const auto* reply = std::get_if<PreAuthReply>(&step);
    return reply == nullptr ? "<auth>" : reply->bytes;
}

AuthRequest auth_of(const Args& args) {
    const PreAuthStep step = interpret_pre_auth(args);
    const auto* request = std::get_if<AuthRequest>(&step);
    EXPECT_NE(request, nullptr);
    return request == nullptr ? AuthRequest{} : *request;
}

TEST(DbRedisHandshake, Auth) {
    const AuthRequest one = auth_of({"AUTH", "acm_tok"});
    EXPECT_FALSE(one.login);
    EXPECT_EQ(one.token, "acm_tok");
    EXPECT_EQ(one.hello_version, 0);
    const AuthRequest two = auth_of({"auth", "app", "acm_tok"});
    EXPECT_EQ(two.login, "app");
    EXPECT_EQ(two.token, "acm_tok");
    EXPECT_EQ(reply_of({"AUTH"}), "-ERR wrong number of arguments for 'auth' command\r\n");
    EXPECT_EQ(reply_of({"AUTH", "a", "b", "acm_tok"}), "-ERR syntax error\r\n");
}

TEST(DbRedisHandshake, Hello) {
    const AuthRequest hello = auth_of({"HELLO", "3", "AUTH", "app", "acm_tok", "SETNAME", "me"});
    EXPECT_EQ(hello.hello_version, 3);
    EXPECT_EQ(hello.login, "app");
    EXPECT_EQ(hello.token, "acm_tok");
    EXPECT_EQ(hello.client_name, "me");
    const AuthRequest reordered = auth_of({"hello", "2", "setname", "me", "auth", "default", "t"});
    EXPECT_EQ(reordered.hello_version, 2);
    EXPECT_EQ(reordered.login, "default");
    EXPECT_EQ(reordered.client_name, "me");
    EXPECT_EQ(reply_of({"HELLO"}).rfind("-NOAUTH HELLO must be called", 0), 0u);
    EXPECT_EQ(reply_of({"HELLO", "3"}).rfind("-NOAUTH HELLO must be called", 0), 0u);
    EXPECT_EQ(reply_of({"HELLO", "3", "SETNAME", "x"}).rfind("-NOAUTH", 0), 0u);
    EXPECT_EQ(reply_of({"HELLO", "4", "AUTH", "u", "p"}),
              "-NOPROTO unsupported protocol version\r\n");
    EXPECT_EQ(reply_of({"HELLO", "three"}),
              "-ERR Protocol version is not an integer or out of range\r\n");
    EXPECT_EQ(reply_of({"HELLO", "3", "AUTH", "u", "p", "SETNAME", "a b"}),
              "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
}

TEST(DbRedisHandshake, HelloSyntaxErrorsDoNotQuoteTheToken) {
    for (const Args& args :
         {Args{"HELLO", "3", "acm_secret"}, Args{"HELLO", "3", "AUTH", "acm_secret"},
          Args{"HELLO", "3", "AUTH", "u", "p", "acm_secret"}}) {
        const std::string reply = reply_of(args);
        EXPECT_EQ(reply.rfind("-ERR Syntax error in HELLO options", 0), 0u) << reply;
        EXPECT_EQ(reply.find("acm_secret"), std::string::npos);
    }
}

TEST(DbRedisHandshake, OtherCommandsNeedAuthentication) {
    for (const char* name : {"PING", "GET", "ping", "SELECT", "CLIENT"}) {
        EXPECT_EQ(reply_of({name}), "-NOAUTH Authentication required.\r\n") << name;
    }
    const PreAuthStep quit = interpret_pre_auth({"quit"});
    ASSERT_TRUE(std::holds_alternative<PreAuthReply>(quit));
    EXPECT_EQ(std::get<PreAuthReply>(quit).bytes, "+OK\r\n");
    EXPECT_TRUE(std::get<PreAuthReply>(quit).close);
    EXPECT_EQ(reply_of({"RESET"}), "+RESET\r\n");
}

TEST(DbRedisHandshake, ImplicitLogin) {
    EXPECT_EQ(implicit_login({"app", "default"}), "default");
    EXPECT_EQ(implicit_login({"app"}), "app");
    EXPECT_FALSE(implicit_login({"app", "ro"}));
    EXPECT_FALSE(implicit_login({}));
    EXPECT_EQ(no_implicit_login_reply({"app", "ro"}),
              "-ERR Cloakroom: this database has several logins (app, ro); use AUTH <login> "
              "<token>\r\n");
}

TEST(DbRedisHandshake, DenialReplies) {
    EXPECT_EQ(denial_reply(Refusal::WrongPass, "the token expired\r\nat x"),
              "-WRONGPASS invalid username-password pair or user is disabled. Cloakroom: the token "
              "expired  at x\r\n");
    EXPECT_EQ(denial_reply(Refusal::NoPerm, "not for this login"),
              "-NOPERM Cloakroom: not for this login\r\n");
    EXPECT_EQ(denial_reply(Refusal::Unavailable, "secret missing"),
              "-ERR Cloakroom: secret missing\r\n");
}

TEST(DbRedisHandshake, UpstreamLoginCommand) {
    EXPECT_EQ(upstream_login_command("default", "pw", 0, std::nullopt),
              encode_command({"AUTH", "pw"}));
    EXPECT_EQ(upstream_login_command("app", "pw", 0, std::nullopt),
              encode_command({"AUTH", "app", "pw"}));
    EXPECT_EQ(upstream_login_command("default", std::nullopt, 0, std::nullopt), "");
    EXPECT_EQ(upstream_login_command("ro", std::nullopt, 0, std::nullopt),
              encode_command({"AUTH", "ro", ""}));
    EXPECT_EQ(upstream_login_command("default", "pw", 3, std::string("me")),
              encode_command({"HELLO", "3", "AUTH", "default", "pw", "SETNAME", "me"}));
    EXPECT_EQ(upstream_login_command("app", "pw", 2, std::nullopt),
              encode_command({"HELLO", "2", "AUTH", "app", "pw"}));
    EXPECT_EQ(upstream_login_command("default", std::nullopt, 3, std::nullopt),
              encode_command({"HELLO", "3"}));
}

TEST(DbRedisHandshake, UpstreamFailuresNeverQuoteSecrets) {
    const std::string wrong = upstream_failure_reply(
        "WRONGPASS invalid username-password pair or user is disabled.", "app", {"pw", "acm_t"});
    EXPECT_EQ(wrong,
              "-ERR Cloakroom: the database refused Cloakroom's login for 'app': WRONGPASS invalid "
              "username-password pair or user is disabled. (the operator should check this "
              "login's password)\r\n");
    // redis-server quotes arguments of an unknown (renamed) command: only the code is passed on.
    const std::string quoted = upstream_failure_reply(
        "ERR unknown command 'AUTH', with args beginning with: 'app' 'hunter2' ", "app",
        {"hunter2"});
    EXPECT_EQ(quoted.find("hunter2"), std::string::npos);
    EXPECT_NE(quoted.find("ERR (details withheld)"), std::string::npos);
    const std::string contains = upstream_failure_reply("ERR hunter2 is wrong", "app", {"hunter2"});
    EXPECT_EQ(contains.find("hunter2"), std::string::npos);
    EXPECT_EQ(
        upstream_failure_reply("", "app", {}).find("error (details withheld)") != std::string::npos,
        true);
}

}  // namespace
}  // namespace cloakroom::db::redis
