// Where the agent's token is looked for, and how it is removed (issue 3, decision 6).
#include <gtest/gtest.h>

#include "proxy/request_auth.hpp"
#include "proxy_test_support.hpp"
#include "util/base64.hpp"

namespace cloakroom::proxy {
namespace {

using test::all_fields;
using test::request;

constexpr std::string_view kPrefix = "acm_";
const std::string kToken = "acm_AbCdEf0123456789-_";

std::string basic(std::string_view user, std::string_view password) {
    return "Basic " + base64_encode(std::string(user) + ":" + std::string(password));
}

config::Credential credential_of(config::CredentialType type) {
    config::Credential c;
    c.type = type;
    c.secret = test::secret_ref("env:X");
    if (type == config::CredentialType::Header) c.header = "x-api-key";
    if (type == config::CredentialType::Query) c.param = "key";
    if (type == config::CredentialType::Template) {
        c.header = "Authorization";
        c.template_text = "token {secret}";
    }
    return c;
}

std::optional<FoundToken> find(const http::Head& req, std::string_view query = "",
                               const config::Credential* credential = nullptr,
                               std::optional<std::string> proxy = std::nullopt) {
    return find_token(req, query, credential, kPrefix, std::move(proxy));
}

TEST(ProxyFindToken, BearerAnyCaseScheme) {
    for (const char* scheme : {"Bearer ", "bearer ", "BEARER  ", "Bearer\t"}) {
        auto req = request(bhttp::verb::get, "/", {{"Authorization", scheme + kToken}});
        auto found = find(req);
        ASSERT_TRUE(found) << scheme;
        EXPECT_EQ(found->token, kToken);
        EXPECT_EQ(found->where, FoundToken::AuthorizationBearer);
        EXPECT_EQ(found->name, "Authorization");
    }
}

// What real clients send for a bearer-like API key: gh, octokit and PyGithub send "token", Django
// REST framework clients "Token", Discord bots "Bot", Yandex "OAuth", fal "Key", Elastic
// "ApiKey", DPoP-bound tokens "DPoP". Every one is found (case-insensitive: any scheme is), with
// or without a credential configured, and also in Proxy-Authorization.
TEST(ProxyFindToken, EveryBearerLikeScheme) {
    const auto bearer = credential_of(config::CredentialType::Bearer);
    for (const char* scheme : {"token ", "Token ", "TOKEN ", "token\t", "Bot ", "OAuth ", "Key ",
                               "ApiKey ", "DPoP ", "x-custom.v1 "}) {
        for (const config::Credential* credential :
             {&bearer, static_cast<const config::Credential*>(nullptr)}) {
            auto req = request(bhttp::verb::get, "/", {{"Authorization", scheme + kToken}});
            auto found = find(req, "", credential);
            ASSERT_TRUE(found) << scheme;
            EXPECT_EQ(found->token, kToken);
            EXPECT_EQ(found->where, FoundToken::AuthorizationBearer);
            EXPECT_EQ(found->name, "Authorization");
        }
        auto connect = find(request(bhttp::verb::get, "/"), "", nullptr, scheme + kToken);
        ASSERT_TRUE(connect) << scheme;
        EXPECT_EQ(connect->token, kToken);
        EXPECT_EQ(connect->where, FoundToken::ProxyAuthorization);
    }
}

// A "token" scheme's token is stripped: the upstream never sees it (injection then sets the
// service's own scheme).
TEST(ProxyStripToken, GithubTokenScheme) {
    auto req =
        request(bhttp::verb::get, "/", {{"Authorization", "token " + kToken}, {"Accept", "*/*"}});
    std::string query;
    auto found = find(req);
    ASSERT_TRUE(found);
    strip_token(req, query, *found);
    EXPECT_EQ(all_fields(req), "Accept: */*\n");
}

TEST(ProxyFindToken, BearerWithDischarges) {
    const std::string header = kToken + ",acm_discharge";
    auto req = request(bhttp::verb::get, "/", {{"authorization", "Bearer " + header}});
    auto found = find(req);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, header);
}

TEST(ProxyFindToken, BareTokenInAuthorization) {
    auto req = request(bhttp::verb::get, "/", {{"Authorization", kToken}});
    auto found = find(req);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->where, FoundToken::AuthorizationBearer);
}

TEST(ProxyFindToken, NonTokenValuesMeanNoToken) {
    for (const std::string& value :
         {std::string("Bearer sk_live_realkey"), std::string("Bearer acm_"), std::string("Bearer"),
          basic("user", "pass"), std::string("Basic !!!"), std::string("token sk_live_realkey"),
          std::string("token acm_"), std::string("Bot  acm_"), std::string("t@ken acm_x"),
          std::string("token"), std::string("")}) {
        auto req = request(bhttp::verb::get, "/", {{"Authorization", value}});
        EXPECT_FALSE(find(req)) << value;
    }
    EXPECT_FALSE(find(request(bhttp::verb::get, "/")));
}

TEST(ProxyFindToken, BasicPasswordThenUser) {
    auto git = request(bhttp::verb::get, "/", {{"Authorization", basic("x-access-token", kToken)}});
    auto found = find(git);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
    EXPECT_EQ(found->where, FoundToken::AuthorizationBasicPassword);

    auto stripe = request(bhttp::verb::get, "/", {{"Authorization", basic(kToken, "")}});
    found = find(stripe);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
    EXPECT_EQ(found->where, FoundToken::AuthorizationBasicUser);

    auto no_colon =
        request(bhttp::verb::get, "/", {{"Authorization", "basic " + base64_encode(kToken)}});
    found = find(no_colon);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->where, FoundToken::AuthorizationBasicUser);

    // Both sides carry one: the password (git's convention) wins.
    auto both = request(bhttp::verb::get, "/", {{"Authorization", basic("acm_user", kToken)}});
    found = find(both);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
}

TEST(ProxyFindToken, SecondAuthorizationFieldIsLookedAt) {
    auto req = request(bhttp::verb::get, "/",
                       {{"Authorization", "Bearer other"}, {"Authorization", "Bearer " + kToken}});
    auto found = find(req);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
}

TEST(ProxyFindToken, ApiKeyHeader) {
    const auto credential = credential_of(config::CredentialType::Header);
    auto req = request(bhttp::verb::get, "/", {{"X-Api-Key", kToken}});
    auto found = find(req, "", &credential);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->where, FoundToken::ApiKeyHeader);
    EXPECT_EQ(found->name, "x-api-key");
    EXPECT_EQ(found->token, kToken);
    // Without the credential the header means nothing.
    EXPECT_FALSE(find(req));
    // A real key in the header is not a token.
    EXPECT_FALSE(
        find(request(bhttp::verb::get, "/", {{"x-api-key", "sk-ant-real"}}), "", &credential));
}

TEST(ProxyFindToken, ApiKeyHeaderAfterConfiguredPrefix) {
    auto credential = credential_of(config::CredentialType::Header);
    credential.header = "X-Auth";
    credential.prefix = "Token ";
    auto req = request(bhttp::verb::get, "/", {{"x-auth", "Token " + kToken}});
    auto found = find(req, "", &credential);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
    EXPECT_EQ(found->name, "X-Auth");
}

TEST(ProxyFindToken, TemplateHeader) {
    const auto credential = credential_of(config::CredentialType::Template);
    auto req = request(bhttp::verb::get, "/", {{"Authorization", "token " + kToken}});
    auto found = find(req, "", &credential);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
    EXPECT_EQ(found->name, "Authorization");  // found by the scheme rule first; stripped alike

    auto custom = credential_of(config::CredentialType::Template);
    custom.header = "X-Key";
    custom.template_text = "k={secret};v=1";
    auto req2 = request(bhttp::verb::get, "/", {{"X-Key", "k=" + kToken + ";v=1"}});
    found = find(req2, "", &custom);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, kToken);
}

TEST(ProxyFindToken, QueryParam) {
    const auto credential = credential_of(config::CredentialType::Query);
    auto req = request(bhttp::verb::get, "/maps?a=1&key=" + kToken);
    auto found = find(req, "a=1&key=" + kToken, &credential);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->where, FoundToken::QueryParam);
    EXPECT_EQ(found->name, "key");
    EXPECT_EQ(found->token, kToken);
    // Percent-encoded name and value are decoded for matching.
    found = find(req, "k%65y=acm%5FAbC%2Cacm_D", &credential);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, "acm_AbC,acm_D");
    EXPECT_FALSE(find(req, "key=realkey&other=" + kToken, &credential));
    EXPECT_FALSE(find(req, "key=" + kToken));  // no query credential: not looked at
    EXPECT_FALSE(find(req, "", &credential));
}

TEST(ProxyFindToken, ProxyAuthorizationLast) {
    auto req = request(bhttp::verb::get, "/");
    for (const std::string& value :
         {basic("agent", kToken), basic(kToken, ""), "Bearer " + kToken, kToken}) {
        auto found = find(req, "", nullptr, value);
        ASSERT_TRUE(found) << value;
        EXPECT_EQ(found->token, kToken);
        EXPECT_EQ(found->where, FoundToken::ProxyAuthorization);
        EXPECT_EQ(found->name, "Proxy-Authorization");
    }
    EXPECT_FALSE(find(req, "", nullptr, basic("user", "pass")));
    // A token where the credential goes wins over the CONNECT's.
    auto with = request(bhttp::verb::get, "/", {{"Authorization", "Bearer acm_inner"}});
    auto found = find(with, "", nullptr, "Bearer " + kToken);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->token, "acm_inner");
}

TEST(ProxyFindToken, OtherPrefix) {
    auto req = request(bhttp::verb::get, "/", {{"Authorization", "Bearer tok_" + kToken}});
    EXPECT_FALSE(find(req));
    auto found = find_token(req, "", nullptr, "tok_", std::nullopt);
    ASSERT_TRUE(found);
    EXPECT_FALSE(find_token(req, "", nullptr, "", std::nullopt));
}

TEST(ProxyStripToken, AuthorizationBearerAndProxyHeaders) {
    auto req = request(bhttp::verb::get, "/",
                       {{"Authorization", "Bearer " + kToken},
                        {"Proxy-Authorization", "Basic abc"},
                        {"Proxy-Connection", "keep-alive"},
                        {"Accept", "*/*"}});
    std::string query = "a=1";
    auto found = find(req, query);
    ASSERT_TRUE(found);
    strip_token(req, query, *found);
    EXPECT_EQ(all_fields(req), "Accept: */*\n");
    EXPECT_EQ(query, "a=1");
}

TEST(ProxyStripToken, BasicKeepsOtherAuthorizationFields) {
    auto req = request(
        bhttp::verb::get, "/",
        {{"Authorization", "Bearer something-else"}, {"Authorization", basic("git", kToken)}});
    std::string query;
    auto found = find(req, query);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->where, FoundToken::AuthorizationBasicPassword);
    strip_token(req, query, *found);
    EXPECT_EQ(all_fields(req), "Authorization: Bearer something-else\n");

    auto user = request(bhttp::verb::get, "/", {{"Authorization", basic(kToken, "")}});
    found = find(user, query);
    ASSERT_TRUE(found);
    strip_token(user, query, *found);
    EXPECT_EQ(all_fields(user), "");
}

TEST(ProxyStripToken, ApiKeyHeader) {
    const auto credential = credential_of(config::CredentialType::Header);
    auto req = request(bhttp::verb::post, "/",
                       {{"x-api-key", kToken}, {"X-API-KEY", kToken}, {"content-type", "x"}});
    std::string query;
    auto found = find(req, query, &credential);
    ASSERT_TRUE(found);
    strip_token(req, query, *found);
    EXPECT_EQ(all_fields(req), "content-type: x\n");
}

TEST(ProxyStripToken, QueryKeepsOtherParamsByteIdentical) {
    const auto credential = credential_of(config::CredentialType::Query);
    auto req = request(bhttp::verb::get, "/");
    struct Case {
        std::string in, out;
    };
    for (const Case& c : std::vector<Case>{
             {"key=" + kToken, ""},
             {"a=%41&key=" + kToken + "&b=x+y&a=2", "a=%41&b=x+y&a=2"},
             {"key=" + kToken + "&z", "z"},
             {"q=1&k%65y=" + kToken, "q=1"},
             {"&&key=" + kToken + "&=&", "&&=&"},
             {"key=" + kToken + "&key=" + kToken + "&key=real", "key=real"},
         }) {
        std::string query = c.in;
        auto found = find(req, query, &credential);
        ASSERT_TRUE(found) << c.in;
        strip_token(req, query, *found);
        EXPECT_EQ(query, c.out) << c.in;
    }
}

TEST(ProxyStripToken, ProxyAuthorizationOnly) {
    auto req =
        request(bhttp::verb::get, "/",
                {{"Proxy-Authorization", "Bearer " + kToken}, {"Authorization", "Bearer real"}});
    std::string query = "x=1";
    auto found = find(req, query, nullptr, "Bearer " + kToken);
    ASSERT_TRUE(found);
    strip_token(req, query, *found);
    EXPECT_EQ(all_fields(req), "Authorization: Bearer real\n");
    EXPECT_EQ(query, "x=1");
}

TEST(ProxyQuery, DecodeAndRemove) {
    EXPECT_EQ(query::decode("a%20b%2x%zz%4"), "a b%2x%zz%4");
    EXPECT_EQ(query::decode("%41%62+"), "Ab+");
    std::string q = "a=1&b=2&a=3";
    query::remove_param(q, "a");
    EXPECT_EQ(q, "b=2");
    q = "a=1&b=2";
    query::remove_param(q, "c");
    EXPECT_EQ(q, "a=1&b=2");
    q = "a=1&b=2&a=3";
    query::remove_param(q, "a", "3");
    EXPECT_EQ(q, "a=1&b=2");
    q = "";
    query::remove_param(q, "a");
    EXPECT_EQ(q, "");
}

}  // namespace
}  // namespace cloakroom::proxy
