// Staged credential injection: every type, all-or-nothing on secret failure (issue 3).
#include <gtest/gtest.h>

#include "proxy/injection.hpp"
#include "proxy_test_support.hpp"
#include "secrets_test_util.hpp"
#include "util/base64.hpp"

namespace cloakroom::proxy {
namespace {

using secrets::testing_support::ScopedEnv;
using test::all_fields;
using test::request;
using test::secret_ref;

constexpr const char* kSecret = "sk_live_CANARY+/=secret";

secrets::SecretResolver resolver() {
    return secrets::SecretResolver(
        secrets::SecretSources{{}, std::nullopt, std::chrono::seconds(5)});
}

std::vector<std::string> needles(const InjectionPlan& plan) {
    std::vector<std::string> out;
    for (const auto& v : plan.values_to_redact) out.emplace_back(v.reveal());
    return out;
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

class ProxyInjection : public ::testing::Test {
  protected:
    ScopedEnv secret{"CLOAKROOM_INJECT_SECRET", kSecret};
    ScopedEnv user{"CLOAKROOM_INJECT_USER", "cus_user"};
    ScopedEnv missing{"CLOAKROOM_INJECT_MISSING", nullptr};
    const secrets::SecretResolver resolve = resolver();

    config::Credential credential(config::CredentialType type) {
        config::Credential c;
        c.type = type;
        c.secret = secret_ref("env:CLOAKROOM_INJECT_SECRET");
        return c;
    }

    // Plans and applies; returns the request's fields and the query.
    std::pair<std::string, std::string> inject(const config::Credential& c, http::Head req,
                                               std::string query, InjectionPlan* keep = nullptr) {
        auto plan = plan_injection(c, resolve);
        EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
        if (!plan.ok()) return {};
        apply_injection(req, query, *plan);
        if (keep) *keep = std::move(*plan);
        return {all_fields(req), query};
    }
};

TEST_F(ProxyInjection, Bearer) {
    InjectionPlan plan;
    auto [fields, query] =
        inject(credential(config::CredentialType::Bearer),
               request(bhttp::verb::get, "/", {{"Accept", "*/*"}}), "a=1", &plan);
    EXPECT_EQ(fields, std::string("Accept: */*\nAuthorization: Bearer ") + kSecret + "\n");
    EXPECT_EQ(query, "a=1");
    const auto n = needles(plan);
    EXPECT_TRUE(contains(n, kSecret));
    EXPECT_TRUE(contains(n, std::string("Bearer ") + kSecret));
}

TEST_F(ProxyInjection, SetReplacesEveryAgentValue) {
    auto [fields, query] = inject(credential(config::CredentialType::Bearer),
                                  request(bhttp::verb::get, "/",
                                          {{"authorization", "Bearer agent-1"},
                                           {"Authorization", "Basic agent-2"},
                                           {"Proxy-Authorization", "Basic x"},
                                           {"Proxy-Connection", "close"}}),
                                  "");
    EXPECT_EQ(fields, std::string("Authorization: Bearer ") + kSecret + "\n");
}

TEST_F(ProxyInjection, BasicWithLiteralUser) {
    auto c = credential(config::CredentialType::Basic);
    c.username = "git";
    InjectionPlan plan;
    auto [fields, query] = inject(c, request(bhttp::verb::get, "/"), "", &plan);
    const std::string encoded = base64_encode(std::string("git:") + kSecret);
    EXPECT_EQ(fields, "Authorization: Basic " + encoded + "\n");
    const auto n = needles(plan);
    EXPECT_TRUE(contains(n, kSecret));
    EXPECT_TRUE(contains(n, encoded));
    EXPECT_TRUE(contains(n, "Basic " + encoded));
    EXPECT_FALSE(contains(n, "git"));  // a literal user name is not a secret
}

TEST_F(ProxyInjection, BasicWithSecretUserAndEmptyPassword) {
    config::Credential c;
    c.type = config::CredentialType::Basic;
    c.username_secret = secret_ref("env:CLOAKROOM_INJECT_USER");
    InjectionPlan plan;
    auto [fields, query] = inject(c, request(bhttp::verb::get, "/"), "", &plan);
    const std::string encoded = base64_encode("cus_user:");
    EXPECT_EQ(fields, "Authorization: Basic " + encoded + "\n");
    const auto n = needles(plan);
    EXPECT_TRUE(contains(n, "cus_user"));
    EXPECT_TRUE(contains(n, encoded));
    for (const auto& needle : n) EXPECT_FALSE(needle.empty());
}

TEST_F(ProxyInjection, HeaderWithPrefix) {
    auto c = credential(config::CredentialType::Header);
    c.header = "x-api-key";
    InjectionPlan plan;
    auto [fields, query] =
        inject(c, request(bhttp::verb::get, "/", {{"X-Api-Key", "acm_left_over"}}), "", &plan);
    EXPECT_EQ(fields, std::string("x-api-key: ") + kSecret + "\n");

    c.header = "X-Auth";
    c.prefix = "Token ";
    auto [fields2, query2] = inject(c, request(bhttp::verb::get, "/"), "", &plan);
    EXPECT_EQ(fields2, std::string("X-Auth: Token ") + kSecret + "\n");
    EXPECT_TRUE(contains(needles(plan), std::string("Token ") + kSecret));
}

TEST_F(ProxyInjection, QueryParamIsPercentEncodedAndReplacesAgentValues) {
    auto c = credential(config::CredentialType::Query);
    c.param = "key";
    InjectionPlan plan;
    auto [fields, query] =
        inject(c, request(bhttp::verb::get, "/"), "a=%41&key=agent&b=x+y&k%65y=2", &plan);
    const std::string encoded = "sk_live_CANARY%2B%2F%3Dsecret";
    EXPECT_EQ(query, "a=%41&b=x+y&key=" + encoded);
    EXPECT_EQ(fields, "");
    const auto n = needles(plan);
    EXPECT_TRUE(contains(n, kSecret));
    EXPECT_TRUE(contains(n, encoded));

    auto [f2, empty_query] = inject(c, request(bhttp::verb::get, "/"), "");
    EXPECT_EQ(empty_query, "key=" + encoded);
}

TEST_F(ProxyInjection, Template) {
    auto c = credential(config::CredentialType::Template);
    c.header = "Authorization";
    c.template_text = "token {secret}";
    InjectionPlan plan;
    auto [fields, query] = inject(c, request(bhttp::verb::get, "/"), "", &plan);
    EXPECT_EQ(fields, std::string("Authorization: token ") + kSecret + "\n");
    EXPECT_TRUE(contains(needles(plan), std::string("token ") + kSecret));

    c.header = "X-Custom";
    c.template_text = "{secret}:v1";
    auto [fields2, q2] = inject(c, request(bhttp::verb::get, "/"), "");
    EXPECT_EQ(fields2, std::string("X-Custom: ") + kSecret + ":v1\n");
}

TEST_F(ProxyInjection, SecretFailureLeavesNothingAndNamesTheReference) {
    for (auto type : {config::CredentialType::Bearer, config::CredentialType::Basic,
                      config::CredentialType::Header, config::CredentialType::Query,
                      config::CredentialType::Template}) {
        config::Credential c;
        c.type = type;
        c.header = "x-api-key";
        c.param = "key";
        c.template_text = "t {secret}";
        c.secret = secret_ref("env:CLOAKROOM_INJECT_MISSING");
        auto plan = plan_injection(c, resolve);
        ASSERT_FALSE(plan.ok());
        EXPECT_EQ(plan.error().code, "inject.secret");
        EXPECT_NE(plan.error().message.find("env:CLOAKROOM_INJECT_MISSING"), std::string::npos)
            << plan.error().message;
    }
    // Basic: the password resolves but the user secret does not -> nothing either.
    config::Credential c;
    c.type = config::CredentialType::Basic;
    c.username_secret = secret_ref("env:CLOAKROOM_INJECT_MISSING");
    c.secret = secret_ref("env:CLOAKROOM_INJECT_SECRET");
    auto plan = plan_injection(c, resolve);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().message.find(kSecret), std::string::npos);
    EXPECT_NE(plan.error().message.find("CLOAKROOM_INJECT_MISSING"), std::string::npos);
}

TEST_F(ProxyInjection, InvalidCredentialShapes) {
    config::Credential no_secret;
    no_secret.type = config::CredentialType::Bearer;
    auto plan = plan_injection(no_secret, resolve);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().code, "inject.config");

    auto no_placeholder = credential(config::CredentialType::Template);
    no_placeholder.template_text = "token";
    plan = plan_injection(no_placeholder, resolve);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().code, "inject.config");
    EXPECT_EQ(plan.error().message.find(kSecret), std::string::npos);
}

TEST_F(ProxyInjection, PercentEncode) {
    EXPECT_EQ(percent_encode("aZ09-._~"), "aZ09-._~");
    EXPECT_EQ(percent_encode(" /?&=+%\xff"), "%20%2F%3F%26%3D%2B%25%FF");
    EXPECT_EQ(percent_encode(""), "");
}

}  // namespace
}  // namespace cloakroom::proxy
