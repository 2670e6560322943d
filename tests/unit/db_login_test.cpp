// db::authorize_login: which token may log in as which database login, and what a denial says.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "db/login.hpp"
#include "token/token.hpp"

namespace cloakroom::db {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
constexpr std::string_view kSecret = "pg-real-password-canary-4711";

secrets::SecretRef ref(std::string_view text) {
    auto parsed = secrets::parse_secret_ref(text);
    EXPECT_TRUE(parsed.ok()) << text;
    return parsed.ok() ? *parsed : secrets::SecretRef{};
}

class DbLogin : public ::testing::Test {
  protected:
    void SetUp() override {
        ::setenv("CLOAKROOM_DB_LOGIN_TEST_SECRET", std::string(kSecret).c_str(), 1);
        ::unsetenv("CLOAKROOM_DB_LOGIN_TEST_MISSING");
        ASSERT_TRUE(runtime.keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
        runtime.resolver = std::make_unique<secrets::SecretResolver>(secrets::SecretSources{});
        database.name = "app";
        database.protocol = config::DatabaseProtocol::Postgres;
        database.logins.push_back(
            {"readonly", "app_ro", ref("env:CLOAKROOM_DB_LOGIN_TEST_SECRET")});
        database.logins.push_back({"broken", "app_x", ref("env:CLOAKROOM_DB_LOGIN_TEST_MISSING")});
        database.logins.push_back({"trusted", "app_t", std::nullopt});
    }

    std::string mint(std::vector<token::Caveat> caveats) {
        caveats.push_back(token::validity_caveat(kNow - 60, kNow + 3600));
        auto minted = token::mint_token(runtime.keys, "primary", caveats, token::TokenFormat{});
        EXPECT_TRUE(minted.ok());
        return minted.ok() ? *minted : std::string();
    }

    LoginDecision login(const std::string& token, std::string_view name = "readonly",
                        std::string_view db_name = "shop", std::int64_t now = kNow) {
        return authorize_login(runtime, database, LoginRequest{name, db_name, token, now});
    }

    // By value: callers pass temporaries.
    static LoginDenied denied(const LoginDecision& decision) {
        EXPECT_TRUE(std::holds_alternative<LoginDenied>(decision)) << "login was granted";
        const auto* d = std::get_if<LoginDenied>(&decision);
        return d != nullptr ? *d : LoginDenied{};
    }

    runtime::Runtime runtime;
    config::Database database;
};

TEST_F(DbLogin, ScopedTokenGetsTheRealPassword) {
    const std::string token =
        mint({token::db_services_caveat({"app"}), token::db_logins_caveat({"readonly"}),
              token::db_names_caveat({"shop"})});
    const LoginDecision decision = login(token);
    ASSERT_TRUE(std::holds_alternative<LoginGranted>(decision)) << denied(decision).message;
    const auto& granted = std::get<LoginGranted>(decision);
    EXPECT_EQ(granted.login->user, "app_ro");
    ASSERT_TRUE(granted.password.has_value());
    EXPECT_EQ(granted.password->reveal(), kSecret);
    EXPECT_FALSE(granted.token_id.empty());
    EXPECT_TRUE(granted.command_lists.empty());
}

TEST_F(DbLogin, LoginWithoutPasswordIsGrantedWithoutOne) {
    const LoginDecision decision = login(mint({}), "trusted");
    ASSERT_TRUE(std::holds_alternative<LoginGranted>(decision));
    EXPECT_FALSE(std::get<LoginGranted>(decision).password.has_value());
}

TEST_F(DbLogin, GarbageEmptyAndForeignTokensAreBadPasswords) {
    for (const std::string& password : {std::string("hunter2"), std::string(""),
                                        std::string("acm_AAAA"), std::string("acm_") + "x"}) {
        const LoginDenied d = denied(login(password));
        EXPECT_EQ(d.kind, Denial::BadToken) << password;
        EXPECT_FALSE(d.message.empty());
    }
    // A token signed with another key.
    token::KeyStore other;
    ASSERT_TRUE(other.add("primary", secrets::SecretValue(std::string(32, 'z'))).ok());
    auto foreign = token::mint_token(other, "primary", {}, token::TokenFormat{});
    ASSERT_TRUE(foreign.ok());
    EXPECT_EQ(denied(login(*foreign)).kind, Denial::BadToken);
}

TEST_F(DbLogin, ExpiredTokenIsABadPasswordThatSaysSo) {
    const LoginDenied d = denied(login(mint({}), "readonly", "shop", kNow + 7200));
    EXPECT_EQ(d.kind, Denial::BadToken);
    EXPECT_THAT(d.message, HasSubstr("expired"));
    EXPECT_FALSE(d.token_id.empty());
}

TEST_F(DbLogin, CaveatsOutsideTheRequestAreNotAllowed) {
    struct Case {
        std::vector<token::Caveat> caveats;
        std::string expect;
    };
    const std::vector<Case> cases = {
        {{token::db_services_caveat({"other"})}, "other"},
        {{token::db_logins_caveat({"readwrite"})}, "readwrite"},
        {{token::db_names_caveat({"crm"})}, "crm"},
        {{token::hosts_caveat({"api.example.com"})}, "api.example.com"},
        {{token::db_commands_caveat({"GET"})}, "Redis"},
    };
    for (const Case& c : cases) {
        const LoginDenied d = denied(login(mint(c.caveats)));
        EXPECT_EQ(d.kind, Denial::NotAllowed) << d.message;
        EXPECT_THAT(d.message, HasSubstr(c.expect));
        EXPECT_THAT(d.message, HasSubstr("readonly"));
    }
}

TEST_F(DbLogin, DatabaseNameCaveatNeedsADatabaseName) {
    const LoginDenied d = denied(login(mint({token::db_names_caveat({"shop"})}), "readonly", ""));
    EXPECT_EQ(d.kind, Denial::NotAllowed);
}

TEST_F(DbLogin, UnknownLoginListsTheKnownOnes) {
    const LoginDenied d = denied(login(mint({}), "admin"));
    EXPECT_EQ(d.kind, Denial::UnknownLogin);
    EXPECT_THAT(d.message, HasSubstr("readonly"));
    EXPECT_THAT(d.message, HasSubstr("admin"));
}

TEST_F(DbLogin, UnreadableSecretIsUnavailableAndNeverNamesTheValue) {
    const LoginDenied d = denied(login(mint({}), "broken"));
    EXPECT_EQ(d.kind, Denial::Unavailable);
    EXPECT_THAT(d.message, Not(HasSubstr("CLOAKROOM_DB_LOGIN_TEST_MISSING")));
}

TEST_F(DbLogin, RedisCommandCaveatsAreHandedToTheSession) {
    database.protocol = config::DatabaseProtocol::Redis;
    const LoginDecision decision = login(
        mint({token::db_commands_caveat({"get", "@read"}), token::db_commands_caveat({"GET"})}),
        "readonly", "");
    ASSERT_TRUE(std::holds_alternative<LoginGranted>(decision)) << denied(decision).message;
    const auto& lists = std::get<LoginGranted>(decision).command_lists;
    ASSERT_EQ(lists.size(), 2u);
    EXPECT_EQ(lists[0], (std::vector<std::string>{"GET", "@read"}));
    EXPECT_EQ(lists[1], (std::vector<std::string>{"GET"}));
}

TEST_F(DbLogin, NoDenialMessageContainsTheTokenOrSecret) {
    const std::string token = mint({token::db_services_caveat({"other"})});
    for (const auto& decision : {login(token), login(token, "admin"), login(token + "x")}) {
        const LoginDenied d = denied(decision);
        EXPECT_THAT(d.message, Not(HasSubstr(token.substr(4, 20))));
        EXPECT_THAT(d.message, Not(HasSubstr(kSecret)));
    }
}

}  // namespace
}  // namespace cloakroom::db
