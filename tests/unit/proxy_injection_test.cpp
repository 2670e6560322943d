// Staged credential injection: every type, all-or-nothing on secret failure (issue 3).
#include <gtest/gtest.h>

#include "proxy/head_redaction.hpp"
#include "proxy/injection.hpp"
#include "proxy_test_support.hpp"
#include "secrets_test_util.hpp"
#include "util/base64.hpp"

namespace cloakroom::proxy {
namespace {

using namespace std::string_literals;

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

// Item: secrets with control characters other than NUL/CR/LF (which the secret store already
// refuses) pass the store's rules; a header credential must not carry them verbatim.
TEST_F(ProxyInjection, ControlCharactersAreRefusedForHeaderCredentials) {
    using T = config::CredentialType;
    for (const std::string& bad :
         {"sk_\x01live"s, "sk_live\x7f"s, "\x1b[31msk"s, "sk\tlive"s, "sk\x0bx"s, "sk\x1f"s}) {
        ScopedEnv value{"CLOAKROOM_INJECT_CTL", bad.c_str()};
        for (auto type : {T::Bearer, T::Basic, T::Header, T::Template}) {
            SCOPED_TRACE(std::string(config::to_string(type)) + " " + std::to_string(bad.size()));
            config::Credential c;
            c.type = type;
            c.header = "x-api-key";
            c.username = "u";
            c.template_text = "t {secret}";
            c.secret = secret_ref("env:CLOAKROOM_INJECT_CTL");
            auto plan = plan_injection(c, resolve);
            ASSERT_FALSE(plan.ok());
            EXPECT_EQ(plan.error().code, "inject.secret");
            const std::string& message = plan.error().message;
            EXPECT_NE(message.find("'env:CLOAKROOM_INJECT_CTL'"), std::string::npos) << message;
            EXPECT_NE(message.find("control character"), std::string::npos) << message;
            EXPECT_NE(message.find(std::string(config::to_string(type)) + " credential"),
                      std::string::npos)
                << message;
            // Never the value, nor a piece of it.
            EXPECT_EQ(message.find("sk"), std::string::npos) << message;
            EXPECT_EQ(message.find("live"), std::string::npos) << message;
        }
        // A query credential percent-encodes the value: any byte is safe there.
        config::Credential q;
        q.type = T::Query;
        q.param = "key";
        q.secret = secret_ref("env:CLOAKROOM_INJECT_CTL");
        auto plan = plan_injection(q, resolve);
        ASSERT_TRUE(plan.ok()) << plan.error().message;
        EXPECT_EQ(plan->set_query_param->second.find_first_of("\x01\x7f\x1b\t\x0b\x1f"),
                  std::string::npos);
    }
    // Basic: the user name secret obeys the same rule (RFC 7617 section 2), named by its own
    // reference.
    ScopedEnv user_ctl{"CLOAKROOM_INJECT_USER_CTL", "cus\x01user"};
    config::Credential c;
    c.type = T::Basic;
    c.username_secret = secret_ref("env:CLOAKROOM_INJECT_USER_CTL");
    c.secret = secret_ref("env:CLOAKROOM_INJECT_SECRET");
    auto plan = plan_injection(c, resolve);
    ASSERT_FALSE(plan.ok());
    EXPECT_NE(plan.error().message.find("'env:CLOAKROOM_INJECT_USER_CTL'"), std::string::npos);
    EXPECT_EQ(plan.error().message.find("cus"), std::string::npos);
    // Printable ASCII and UTF-8 stay allowed.
    ScopedEnv fine{"CLOAKROOM_INJECT_FINE", "sk live/caf\xc3\xa9~!"};
    c.username_secret.reset();
    c.secret = secret_ref("env:CLOAKROOM_INJECT_FINE");
    EXPECT_TRUE(plan_injection(c, resolve).ok());
}

TEST_F(ProxyInjection, HeaderSecretProblemIsThePureRule) {
    const auto ref = secret_ref("file:k");
    EXPECT_FALSE(header_secret_problem(config::CredentialType::Bearer, ref, "abc~ \x80"));
    EXPECT_TRUE(header_secret_problem(config::CredentialType::Bearer, ref, "a\x01"));
    EXPECT_TRUE(header_secret_problem(config::CredentialType::Header, ref, "\x7f"));
    EXPECT_FALSE(header_secret_problem(config::CredentialType::Query, ref, "a\x01\x7f"));
    EXPECT_EQ(*header_secret_problem(config::CredentialType::Template, ref, "ab\x02"),
              "credential secret 'file:k' has a control character at byte 2, which a template "
              "credential cannot carry (header values and Basic user names and passwords exclude "
              "control characters: RFC 9110 section 5.5, RFC 7617 section 2)");
}

// Python's urllib.parse.quote (keeps '/'), and the plain RFC 3986 form, in either hex case.
std::string quote(std::string_view text, bool keep_slash, bool lower) {
    std::string out = percent_encode(text);
    if (keep_slash) {
        for (std::size_t at = out.find("%2F"); at != std::string::npos; at = out.find("%2F")) {
            out.replace(at, 3, "/");
        }
    }
    if (lower) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (out[i] == '%') {
                for (std::size_t j = i + 1; j < i + 3; ++j) {
                    out[j] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[j])));
                }
            }
        }
    }
    return out;
}

// Item: an upstream that echoes the credential encoded (a Location query, a JSON field holding
// a URL) leaked it: the needles were the raw forms only, so "%2B"/"%2F"/"%3D" split the base64
// and everything between them went out. Every run of 5 bytes of the secret or of the Basic pair's
// base64 (padding aside) must be hidden, whichever common encoding the echo used.
TEST_F(ProxyInjection, EncodedEchoesOfTheCredentialAreRedacted) {
    const std::string password = "pa ss/w\xc3\xb6?rd>>>~~~";
    ScopedEnv pw{"CLOAKROOM_INJECT_PW", password.c_str()};
    ScopedEnv user_secret{"CLOAKROOM_INJECT_U", "u"};
    for (const bool secret_user : {false, true}) {
        config::Credential c;
        c.type = config::CredentialType::Basic;
        if (secret_user) {
            c.username_secret = secret_ref("env:CLOAKROOM_INJECT_U");
        } else {
            c.username = "u";
        }
        c.secret = secret_ref("env:CLOAKROOM_INJECT_PW");
        auto plan = plan_injection(c, resolve);
        ASSERT_TRUE(plan.ok()) << plan.error().message;
        const std::string b64 = base64_encode("u:" + password);
        ASSERT_EQ(b64, "dTpwYSBzcy93w7Y/cmQ+Pj5+fn4=");  // '/', '+' and padding: the hard case
        const std::string unpadded = b64.substr(0, b64.size() - 1);
        std::vector<std::string_view> needle_views;
        for (const auto& v : plan->values_to_redact) needle_views.push_back(v.reveal());
        std::vector<std::string> echoes;
        for (const std::string& value : {b64, unpadded, password}) {
            for (const bool keep_slash : {false, true}) {
                for (const bool lower : {false, true}) {
                    echoes.push_back(quote(value, keep_slash, lower));
                }
            }
            echoes.push_back(value);
        }
        std::string form = percent_encode(password);  // form encoding: space as '+'
        form.replace(form.find("%20"), 3, "+");
        echoes.push_back(form);
        for (const std::string& echo : echoes) {
            SCOPED_TRACE(echo);
            const std::string text = "Location: https://cb.example/done?auth=" + echo + "&x=1";
            const std::string out = Redactor(needle_views).redact(text);
            if (!secret_user) {  // (a one-byte user name secret stars every 'u' of the text)
                EXPECT_TRUE(out.starts_with("Location: https://cb.example/done?auth=")) << out;
                EXPECT_TRUE(out.ends_with("&x=1")) << out;
            }
            for (const std::string& hidden : {unpadded, password}) {
                for (std::size_t i = 0; i + 5 <= hidden.size(); ++i) {
                    const std::string piece = hidden.substr(i, 5);
                    EXPECT_EQ(out.find(piece), std::string::npos)
                        << "'" << piece << "' leaked in " << out;
                    EXPECT_EQ(out.find(quote(piece, false, false)), std::string::npos) << out;
                }
            }
        }
    }
}

TEST_F(ProxyInjection, EchoForms) {
    EXPECT_EQ(echo_forms(""), std::vector<std::string>{});
    EXPECT_EQ(echo_forms("abc"), std::vector<std::string>{"abc"});  // nothing to encode
    const std::vector<std::string> forms = echo_forms("a+/= b");
    for (const std::string expected : {"a+/= b", "a%2B%2F%3D%20b", "a%2b%2f%3d%20b", "a%2B/%3D%20b",
                                       "a%2b/%3d%20b", "a%2B%2F%3D+b", "a%2b%2f%3d+b"}) {
        EXPECT_TRUE(contains(forms, expected)) << expected;
    }
    for (const std::string& form : forms) {
        EXPECT_EQ(std::count(forms.begin(), forms.end(), form), 1) << form;
    }
}

TEST_F(ProxyInjection, PercentEncode) {
    EXPECT_EQ(percent_encode("aZ09-._~"), "aZ09-._~");
    EXPECT_EQ(percent_encode(" /?&=+%\xff"), "%20%2F%3F%26%3D%2B%25%FF");
    EXPECT_EQ(percent_encode(""), "");
}

}  // namespace
}  // namespace cloakroom::proxy
