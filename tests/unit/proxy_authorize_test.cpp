// The authorization decision (issue 3, decisions 5-7) with real minted tokens.
#include <gtest/gtest.h>

#include "proxy/request_auth.hpp"
#include "proxy_test_support.hpp"

namespace cloakroom::proxy {
namespace {

using test::kNow;
using test::request;

class ProxyAuthorize : public ::testing::Test {
  protected:
    const config::Config config = test::sample_config();
    const token::KeyStore keys = test::test_keys();
    const config::Service& stripe = config.services[0];
    const config::Service& docs = config.services[4];

    policy::NormalizedTarget target(std::string_view raw) {
        auto normalized = policy::normalize_target(raw);
        EXPECT_TRUE(normalized.ok()) << raw;
        return normalized.ok() ? *normalized : policy::NormalizedTarget{};
    }

    std::optional<FoundToken> bearer(std::string token) {
        return FoundToken{std::move(token), FoundToken::AuthorizationBearer, "Authorization"};
    }

    AuthDecision run(const config::Service& service, bhttp::verb method, std::string_view path,
                     std::optional<FoundToken> found, bool strict = false,
                     std::string_view host = "api.stripe.com") {
        return authorize(config, service, token::RoutedHost{std::string(host), 443, false},
                         request(method, path), target(path), found, keys, kNow, strict, nullptr);
    }

    std::string valid_token(std::vector<token::Caveat> extra = {}) {
        extra.push_back(token::validity_caveat(kNow - 60, kNow + 60));
        return test::mint(keys, extra);
    }
};

TEST_F(ProxyAuthorize, ValidTokenInjects) {
    const std::string tok = valid_token({token::hosts_caveat({"api.stripe.com"})});
    const AuthDecision d = run(stripe, bhttp::verb::get, "/v1/customers", bearer(tok));
    EXPECT_EQ(d.kind, AuthDecision::Inject);
    EXPECT_EQ(d.status, 0u);
    EXPECT_EQ(d.error, "");
    EXPECT_EQ(d.token_id.size(), 32u);
    EXPECT_EQ(d.reason.find(tok), std::string::npos);
}

TEST_F(ProxyAuthorize, AnInjectedTokenCarriesItsExpiryForItsBudgetCounts) {
    // The earliest not_after of its validity caveats: an attenuation that shortens the life
    // counts, one that claims a longer life does not.
    const std::string parent = valid_token();
    EXPECT_EQ(run(stripe, bhttp::verb::get, "/v1/x", bearer(parent)).expires, kNow + 60);
    const std::string child = test::mint(keys, {token::validity_caveat(kNow - 60, kNow + 60),
                                                token::validity_caveat(kNow - 60, kNow + 30),
                                                token::validity_caveat(kNow - 60, kNow + 900)});
    EXPECT_EQ(run(stripe, bhttp::verb::get, "/v1/x", bearer(child)).expires, kNow + 30);
    // No validity caveat: never expires.
    const AuthDecision forever =
        run(stripe, bhttp::verb::get, "/v1/x", bearer(test::mint(keys, {})));
    EXPECT_EQ(forever.kind, AuthDecision::Inject);
    EXPECT_FALSE(forever.expires.has_value());
}

TEST_F(ProxyAuthorize, ServiceRulesApplyWithAndWithoutToken) {
    const std::string tok = valid_token();
    for (auto found : {std::optional<FoundToken>(), bearer(tok), bearer("acm_garbage")}) {
        AuthDecision d = run(stripe, bhttp::verb::delete_, "/v1/customers/1", found);
        EXPECT_EQ(d.kind, AuthDecision::Reject);
        EXPECT_EQ(d.status, 403u);
        EXPECT_EQ(d.error, "rule_denied");
        EXPECT_NE(d.reason.find("DELETE /v1/customers/1"), std::string::npos) << d.reason;
        d = run(stripe, bhttp::verb::get, "/v2/x", found);
        EXPECT_EQ(d.status, 403u);
        EXPECT_EQ(d.error, "rule_denied");
    }
    // Rules see the normalized path: an escape attempt is judged as what it normalizes to.
    const AuthDecision escaped = run(stripe, bhttp::verb::get, "/v1/../v2/x", bearer(tok));
    EXPECT_EQ(escaped.error, "rule_denied") << escaped.reason;
    EXPECT_NE(escaped.reason.find("/v2/x"), std::string::npos);
}

TEST_F(ProxyAuthorize, NoTokenPassesThroughUnlessStrict) {
    const AuthDecision pass = run(stripe, bhttp::verb::get, "/v1/x", std::nullopt);
    EXPECT_EQ(pass.kind, AuthDecision::Passthrough);
    EXPECT_EQ(pass.status, 0u);
    EXPECT_EQ(pass.token_id, "");

    const AuthDecision strict = run(stripe, bhttp::verb::get, "/v1/x", std::nullopt, true);
    EXPECT_EQ(strict.kind, AuthDecision::Reject);
    EXPECT_EQ(strict.status, 401u);
    EXPECT_EQ(strict.error, "token_required");
    EXPECT_NE(strict.reason.find("a Cloakroom token is required"), std::string::npos);
}

TEST_F(ProxyAuthorize, InvalidTokensAre401) {
    const std::string tok = valid_token();
    token::KeyStore other;
    ASSERT_TRUE(other.add("primary", secrets::SecretValue(std::string(32, 'z'))).ok());
    token::KeyStore unknown_kid;
    ASSERT_TRUE(unknown_kid.add("k2", secrets::SecretValue(std::string(32, 'k'))).ok());
    const std::string foreign = test::mint(other, {token::validity_caveat(kNow - 1, kNow + 1)});
    const std::string unknown = [&] {
        auto t = token::mint_token(unknown_kid, "k2", {}, token::TokenFormat{});
        return t.ok() ? *t : std::string();
    }();
    struct Case {
        std::string token;
        std::string stage;
    };
    for (const Case& c : std::vector<Case>{{"acm_!!!", "decode"},
                                           {tok + "x", "decode"},
                                           {"acm_AAAA", "decode"},
                                           {foreign, "signature"},
                                           {unknown, "signature"},
                                           {tok + ",acm_AAAA", "decode"},
                                           {"acm_x,", "decode"}}) {
        const AuthDecision d = run(stripe, bhttp::verb::get, "/v1/x", bearer(c.token));
        EXPECT_EQ(d.kind, AuthDecision::Reject) << c.token;
        EXPECT_EQ(d.status, 401u) << c.token;
        EXPECT_EQ(d.error, "token_invalid") << c.token;
        EXPECT_NE(d.reason.find("(" + c.stage + ")"), std::string::npos) << d.reason;
        EXPECT_EQ(d.reason.find(c.token), std::string::npos) << d.reason;
    }
}

TEST_F(ProxyAuthorize, ExpiredAndNotYetValidAre401) {
    const std::string expired = test::mint(keys, {token::validity_caveat(kNow - 120, kNow - 60)});
    AuthDecision d = run(stripe, bhttp::verb::get, "/v1/x", bearer(expired));
    EXPECT_EQ(d.status, 401u);
    EXPECT_EQ(d.error, "token_invalid");
    EXPECT_NE(d.reason.find("expired"), std::string::npos) << d.reason;
    EXPECT_EQ(d.token_id.size(), 32u);

    const std::string future = test::mint(keys, {token::validity_caveat(kNow + 60, kNow + 120)});
    d = run(stripe, bhttp::verb::get, "/v1/x", bearer(future));
    EXPECT_EQ(d.status, 401u);
    EXPECT_EQ(d.error, "token_invalid");

    // Expired AND forbidden host: expiry decides (the token is no good at all).
    const std::string both = test::mint(
        keys, {token::hosts_caveat({"other.com"}), token::validity_caveat(kNow - 120, kNow - 60)});
    d = run(stripe, bhttp::verb::get, "/v1/x", bearer(both));
    EXPECT_EQ(d.status, 401u);
}

TEST_F(ProxyAuthorize, CaveatForbidsIs403) {
    auto paths = token::paths_caveat({"/v1/customers/**"});
    ASSERT_TRUE(paths.ok());
    const std::string tok = valid_token(
        {token::hosts_caveat({"api.stripe.com"}), token::methods_caveat({"GET"}), *paths});
    AuthDecision d = run(stripe, bhttp::verb::post, "/v1/customers", bearer(tok));
    EXPECT_EQ(d.status, 403u);
    EXPECT_EQ(d.error, "token_forbidden");
    EXPECT_NE(d.reason.find("method"), std::string::npos) << d.reason;
    EXPECT_EQ(d.token_id.size(), 32u);

    d = run(stripe, bhttp::verb::get, "/v1/charges", bearer(tok));
    EXPECT_EQ(d.error, "token_forbidden");
    EXPECT_NE(d.reason.find("/v1/charges"), std::string::npos) << d.reason;

    // A path escape is checked as the normalized path.
    d = run(stripe, bhttp::verb::get, "/v1/customers/../charges", bearer(tok));
    EXPECT_EQ(d.error, "token_forbidden");
    d = run(stripe, bhttp::verb::get, "/v1/customers/%2e%2e/charges", bearer(tok));
    EXPECT_EQ(d.error, "token_forbidden");
    d = run(stripe, bhttp::verb::get, "/v1//customers/./cus_1?x=/v1/charges", bearer(tok));
    EXPECT_EQ(d.kind, AuthDecision::Inject) << d.reason;
}

TEST_F(ProxyAuthorize, HostCaveatUsesTheRoutedHostNotTheHostHeader) {
    const std::string tok = valid_token({token::hosts_caveat({"api.github.com"})});
    // The Host header claims the token's host; the connection goes to api.stripe.com.
    auto req = request(bhttp::verb::get, "/v1/x", {{"Host", "api.github.com"}});
    const AuthDecision d =
        authorize(config, stripe, token::RoutedHost{"api.stripe.com", 443, false}, req,
                  target("/v1/x"), bearer(tok), keys, kNow, false, nullptr);
    EXPECT_EQ(d.status, 403u);
    EXPECT_EQ(d.error, "token_forbidden");
    EXPECT_NE(d.reason.find("api.stripe.com"), std::string::npos) << d.reason;
}

TEST_F(ProxyAuthorize, ValidTokenButNoCredentialIs403) {
    const std::string tok = valid_token();
    const AuthDecision d =
        run(docs, bhttp::verb::get, "/anything", bearer(tok), false, "docs.example.com");
    EXPECT_EQ(d.status, 403u);
    EXPECT_EQ(d.error, "no_credential");
    EXPECT_NE(d.reason.find("no credentials configured for this host"), std::string::npos);
    // Without a token the same request just passes through.
    EXPECT_EQ(
        run(docs, bhttp::verb::get, "/anything", std::nullopt, false, "docs.example.com").kind,
        AuthDecision::Passthrough);
}

TEST_F(ProxyAuthorize, TokenFromAnyLocationIsVerifiedTheSameWay) {
    const std::string tok = valid_token();
    for (auto where :
         {FoundToken::AuthorizationBasicPassword, FoundToken::AuthorizationBasicUser,
          FoundToken::ApiKeyHeader, FoundToken::QueryParam, FoundToken::ProxyAuthorization}) {
        const AuthDecision d = run(stripe, bhttp::verb::get, "/v1/x", FoundToken{tok, where, "n"});
        EXPECT_EQ(d.kind, AuthDecision::Inject) << d.reason;
    }
}

TEST_F(ProxyAuthorize, ConfiguredPrefixAndLocation) {
    auto custom = config;
    custom.token.prefix = "tok_";
    token::TokenFormat format{"tok_", "elsewhere"};
    auto minted = token::mint_token(keys, "primary", {}, format);
    ASSERT_TRUE(minted.ok());
    const AuthDecision d =
        authorize(custom, custom.services[0], token::RoutedHost{"api.stripe.com", 443, false},
                  request(bhttp::verb::get, "/v1/x"), target("/v1/x"), bearer(*minted), keys, kNow,
                  false, nullptr);
    EXPECT_EQ(d.kind, AuthDecision::Inject) << d.reason;
}

}  // namespace
}  // namespace cloakroom::proxy
