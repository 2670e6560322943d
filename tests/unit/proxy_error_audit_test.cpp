// Error responses and audit lines: shape, escaping, and never a token or secret (invariant 1).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "proxy/error_response.hpp"
#include "proxy/injection.hpp"
#include "proxy/request_auth.hpp"
#include "proxy/route.hpp"
#include "proxy_test_support.hpp"
#include "runtime/audit.hpp"
#include "secrets_test_util.hpp"

namespace cloakroom::proxy {
namespace {

using runtime::AuditRecord;
using runtime::AuditSink;
using runtime::rfc3339_ms;
using runtime::to_json_line;

using test::kNow;
using test::request;

TEST(ProxyErrorResponse, JsonBodyAndHeaders) {
    auto response =
        make_error_response(403, "rule_denied", "service 'stripe' does not allow DELETE", 11, true);
    EXPECT_EQ(response.result_int(), 403u);
    EXPECT_EQ(response.version(), 11u);
    EXPECT_EQ(response[bhttp::field::content_type], "application/json");
    EXPECT_EQ(response[kErrorHeader], "rule_denied");
    EXPECT_EQ(response[bhttp::field::server], "cloakroom");
    EXPECT_TRUE(response.keep_alive());
    EXPECT_EQ(response[bhttp::field::content_length], std::to_string(response.body().size()));
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"], "rule_denied");
    EXPECT_EQ(body["reason"], "service 'stripe' does not allow DELETE");
    EXPECT_EQ(body.size(), 2u);
}

TEST(ProxyErrorResponse, EscapingAndConnectionClose) {
    const std::string nasty = std::string("quote\" back\\ nl\n ctl\x01 bad\xff utf8 ") + "\xc3\xa9";
    auto response = make_error_response(421, "misdirected_request", nasty, 10, false);
    EXPECT_FALSE(response.keep_alive());
    EXPECT_EQ(response.version(), 10u);
    EXPECT_EQ(response.body().find('\n'), response.body().size() - 1);  // one line
    const auto body = nlohmann::json::parse(response.body());
    const std::string reason = body["reason"];
    EXPECT_NE(reason.find("quote\" back\\ nl\n ctl\x01 bad"), std::string::npos);
    EXPECT_NE(reason.find("\xc3\xa9"), std::string::npos);
    EXPECT_EQ(reason.find('\xff'), std::string::npos);
}

TEST(ProxyErrorResponse, StatusCodes) {
    for (unsigned status : {400u, 401u, 403u, 421u, 502u, 504u}) {
        auto response = make_error_response(status, "x", "y", 11, true);
        EXPECT_EQ(response.result_int(), status);
        EXPECT_FALSE(response.reason().empty());
    }
}

TEST(ProxyAudit, Rfc3339Milliseconds) {
    EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(rfc3339_ms(kNow * 1000 + 7), "2026-01-01T00:00:00.007Z");
    EXPECT_EQ(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(ProxyAudit, JsonLine) {
    AuditRecord record{kNow * 1000 + 123,
                       "0123abcd",
                       "stripe",
                       "api.stripe.com",
                       "GET",
                       "/v1/customers",
                       "allow",
                       "token allowed",
                       200,
                       10,
                       2048,
                       1500,
                       "127.0.0.1:5555"};
    const std::string line = to_json_line(record);
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    EXPECT_EQ(line.rfind("{\"time\":\"2026-01-01T00:00:00.123Z\",\"kind\":\"http\",\"token_id\":"
                         "\"0123abcd\"",
                         0),
              0u)
        << line;
    const auto json = nlohmann::json::parse(line);
    EXPECT_EQ(json["service"], "stripe");
    EXPECT_EQ(json["host"], "api.stripe.com");
    EXPECT_EQ(json["method"], "GET");
    EXPECT_EQ(json["path"], "/v1/customers");
    EXPECT_EQ(json["decision"], "allow");
    EXPECT_EQ(json["reason"], "token allowed");
    EXPECT_EQ(json["status"], 200);
    EXPECT_EQ(json["bytes_in"], 10);
    EXPECT_EQ(json["bytes_out"], 2048);
    EXPECT_EQ(json["duration_us"], 1500);
    EXPECT_EQ(json["client"], "127.0.0.1:5555");
    EXPECT_EQ(json["kind"], "http");
    EXPECT_EQ(json.size(), 14u);

    record.path = "/bad\xff\n";
    const std::string odd = to_json_line(record);
    EXPECT_EQ(odd.find('\n'), odd.size() - 1);
    EXPECT_TRUE(nlohmann::json::accept(odd));
}

// The canary test: a request carrying a real token, with a real secret injected, run through
// every pure stage; neither value may appear in the audit line, the reasons, or error bodies.
TEST(ProxyAudit, NoTokenOrSecretCanary) {
    constexpr const char* kCanarySecret = "CANARY_SECRET_7f3a9b";
    secrets::testing_support::ScopedEnv env("CLOAKROOM_TEST_SECRET", kCanarySecret);
    const config::Config config = test::sample_config();
    const token::KeyStore keys = test::test_keys();
    const std::string good = test::mint(keys, {token::validity_caveat(kNow - 5, kNow + 5)});
    const std::string forbidden = test::mint(
        keys, {token::methods_caveat({"POST"}), token::validity_caveat(kNow - 5, kNow + 5)});
    const std::string expired = test::mint(keys, {token::validity_caveat(kNow - 50, kNow - 5)});
    const secrets::SecretResolver resolver(
        secrets::SecretSources{{}, std::nullopt, std::chrono::seconds(5)});

    for (const std::string& token : {good, forbidden, expired, good + "x"}) {
        const Route route = route_connect(config, "api.stripe.com:443");
        ASSERT_EQ(route.kind, RouteKind::Intercept);
        auto req = request(bhttp::verb::get, "/v1/customers?key=" + token,
                           {{"Host", "api.stripe.com"}, {"Authorization", "Bearer " + token}});
        auto target = policy::normalize_target(req.target());
        ASSERT_TRUE(target.ok());
        std::string query = target->query;
        auto found = find_token(req, query, &*route.service->credential, config.token.prefix,
                                "Basic " + token);
        ASSERT_TRUE(found);
        const AuthDecision decision = authorize(config, *route.service, route.token_host(), req,
                                                *target, found, keys, kNow, false, nullptr);
        std::string upstream_secret;
        std::string error_text;
        if (decision.kind == AuthDecision::Inject) {
            strip_token(req, query, *found);
            auto plan = plan_injection(*route.service->credential, resolver);
            ASSERT_TRUE(plan.ok());
            apply_injection(req, query, *plan);
            upstream_secret = std::string(req["Authorization"]);
            EXPECT_NE(upstream_secret.find(kCanarySecret), std::string::npos);
            EXPECT_EQ(test::all_fields(req).find(token), std::string::npos);
        } else {
            auto response =
                make_error_response(decision.status, decision.error, decision.reason, 11, true);
            error_text = test::all_fields(response) + response.body();
        }
        const AuditRecord record{kNow * 1000,
                                 decision.token_id,
                                 route.service->name,
                                 route.authority(),
                                 std::string(req.method()),
                                 target->path,
                                 decision.kind == AuthDecision::Inject ? "allow" : "deny",
                                 decision.reason,
                                 decision.status == 0 ? 200 : decision.status,
                                 0,
                                 0,
                                 10,
                                 "127.0.0.1:1"};
        const std::string line = to_json_line(record);
        for (const std::string_view canary :
             {std::string_view(token), std::string_view(kCanarySecret),
              std::string_view(token).substr(0, 24)}) {
            EXPECT_EQ(line.find(canary), std::string::npos) << line;
            EXPECT_EQ(decision.reason.find(canary), std::string::npos) << decision.reason;
            EXPECT_EQ(error_text.find(canary), std::string::npos) << error_text;
        }
    }
}

TEST(ProxyAuditSink, FileIsAppendOnly0600AndLinesNeverInterleave) {
    secrets::testing_support::TempDir dir;
    const std::string path = (dir / "audit.log").string();
    {
        auto sink = AuditSink::open(path);
        ASSERT_TRUE(sink.ok()) << sink.error().message;
        struct stat st {};
        ASSERT_EQ(::stat(path.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                AuditRecord record;
                record.reason = std::string(3000, static_cast<char>('a' + t));
                record.decision = "allow";
                for (int i = 0; i < 200; ++i) (*sink)->write(record);
            });
        }
        for (auto& thread : threads) thread.join();
        EXPECT_EQ((*sink)->write_errors(), 0u);
    }
    {
        auto again = AuditSink::open(path);  // reopening appends
        ASSERT_TRUE(again.ok());
        (*again)->write(AuditRecord{});
    }
    std::ifstream in(path);
    std::string line;
    int count = 0;
    while (std::getline(in, line)) {
        const auto json = nlohmann::json::parse(line);  // throws (fails) on an interleaved line
        const std::string reason = json["reason"];
        if (!reason.empty()) {
            EXPECT_EQ(reason, std::string(3000, reason[0]));
        }
        ++count;
    }
    EXPECT_EQ(count, 801);
}

TEST(ProxyAuditSink, OpenErrors) {
    auto bad = AuditSink::open("/nonexistent-dir-cloakroom/audit.log");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "audit.open");
    EXPECT_NE(bad.error().message.find("/nonexistent-dir-cloakroom/audit.log"), std::string::npos);
    EXPECT_FALSE(AuditSink::open("").ok());
    EXPECT_TRUE(AuditSink::open("-").ok());
}

}  // namespace
}  // namespace cloakroom::proxy
