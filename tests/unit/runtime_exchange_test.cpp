// runtime::Exchange writes exactly one audit record per exchange, on every way out, and the one
// audit schema carries the database fields only for database sessions.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "runtime/access.hpp"
#include "runtime/exchange.hpp"
#include "token/token.hpp"

namespace cloakroom::runtime {
namespace {

class ExchangeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() /
                ("cloakroom-exchange-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl");
        std::filesystem::remove(path_);
        auto sink = AuditSink::open(path_.string());
        ASSERT_TRUE(sink.ok());
        sink_ = std::shared_ptr<AuditSink>(std::move(*sink));
    }
    void TearDown() override { std::filesystem::remove(path_); }

    std::vector<nlohmann::json> records() const {
        std::vector<nlohmann::json> out;
        std::ifstream in(path_);
        for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
        return out;
    }

    std::filesystem::path path_;
    std::shared_ptr<AuditSink> sink_;
};

TEST_F(ExchangeTest, ARefusalIsWrittenOnceWhenFinished) {
    {
        Exchange exchange(sink_, kAuditHttp, "127.0.0.1:1");
        exchange.record().host = "api.example.com";
        exchange.refuse({403, "rule_denied", "not allowed"});
        exchange.finish();
        EXPECT_EQ(records().size(), 1u) << "finish() writes at once";
        exchange.finish();
        exchange.complete(200, kAllow, "too late");
    }
    const auto written = records();
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written[0]["decision"], "deny");
    EXPECT_EQ(written[0]["status"], 403);
    EXPECT_EQ(written[0]["reason"], "not allowed");
    EXPECT_EQ(written[0]["kind"], "http");
    EXPECT_EQ(written[0]["client"], "127.0.0.1:1");
}

TEST_F(ExchangeTest, AnAbandonedExchangeIsWrittenByItsDestructor) {
    { Exchange exchange(sink_, kAuditTunnel, "127.0.0.1:2"); }
    {
        Exchange exchange(sink_, kAuditHttp, "127.0.0.1:3");
        exchange.complete(200, kPassthrough, "no token");
    }
    const auto written = records();
    ASSERT_EQ(written.size(), 2u);
    EXPECT_EQ(written[0]["decision"], "error");
    EXPECT_EQ(written[0]["kind"], "tunnel");
    EXPECT_FALSE(written[0]["reason"].get<std::string>().empty());
    EXPECT_EQ(written[1]["decision"], "passthrough");
    EXPECT_EQ(written[1]["status"], 200);
}

TEST_F(ExchangeTest, DatabaseRecordsShareTheSchemaAndAddTheirFields) {
    {
        Exchange exchange(sink_, kAuditDatabase, "127.0.0.1:4");
        AuditRecord& record = exchange.record();
        record.service = "app";
        record.protocol = "postgres";
        record.login = "readonly";
        record.db_name = "shop";
        exchange.complete(0, kAllow, "token allowed");
    }
    {
        Exchange exchange(sink_, kAuditHttp, "127.0.0.1:5");
        exchange.complete(200, kAllow, "token allowed");
    }
    const auto written = records();
    ASSERT_EQ(written.size(), 2u);
    for (const char* key :
         {"time", "kind", "token_id", "service", "host", "method", "path", "decision", "reason",
          "status", "bytes_in", "bytes_out", "duration_us", "client"}) {
        EXPECT_TRUE(written[0].contains(key)) << key;
        EXPECT_TRUE(written[1].contains(key)) << key;
    }
    EXPECT_EQ(written[0]["kind"], "database");
    EXPECT_EQ(written[0]["database"], "app");
    EXPECT_EQ(written[0]["protocol"], "postgres");
    EXPECT_EQ(written[0]["login"], "readonly");
    EXPECT_EQ(written[0]["db_name"], "shop");
    EXPECT_FALSE(written[1].contains("protocol"));
    EXPECT_FALSE(written[1].contains("database"));
}

// The access decision HTTP and databases share: one classification of a verified token.
TEST(AccessDecision, ClassifiesInvalidExpiredForbiddenAndOk) {
    token::KeyStore keys;
    ASSERT_TRUE(keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
    const std::int64_t now = 1767225600;
    auto mint = [&](std::vector<token::Caveat> caveats) {
        auto minted = token::mint_token(keys, "primary", caveats, token::TokenFormat{});
        EXPECT_TRUE(minted.ok());
        return minted.ok() ? *minted : std::string();
    };
    const AccessContext context{keys, token::TokenFormat{}, nullptr};
    const token::AccessRequest get{"api.example.com", "GET", "/v1/x", now};
    const std::string good = mint({token::validity_caveat(now - 60, now + 60)});
    const std::string expired = mint({token::validity_caveat(now - 120, now - 60)});
    const std::string post_only =
        mint({token::validity_caveat(now - 60, now + 60), token::methods_caveat({"POST"})});

    EXPECT_EQ(decide_access(good, get, context).verdict, AccessDecision::Verdict::Ok);
    const AccessDecision bad = decide_access(good + "AA", get, context);
    EXPECT_EQ(bad.verdict, AccessDecision::Verdict::Invalid);
    EXPECT_FALSE(bad.stage.empty());
    EXPECT_EQ(decide_access(expired, get, context).verdict, AccessDecision::Verdict::Expired);
    const AccessDecision forbidden = decide_access(post_only, get, context);
    EXPECT_EQ(forbidden.verdict, AccessDecision::Verdict::Forbidden);
    EXPECT_FALSE(forbidden.token_id.empty());
    EXPECT_EQ(forbidden.detail.find(good), std::string::npos);

    // Databases: the same verdicts from the same function.
    const token::DbAccessRequest login{"app", "readonly", "shop", "postgres", now};
    EXPECT_EQ(decide_access(good, login, context).verdict, AccessDecision::Verdict::Ok);
    EXPECT_EQ(decide_access(expired, login, context).verdict, AccessDecision::Verdict::Expired);
    EXPECT_EQ(decide_access("acm_x", login, context).verdict, AccessDecision::Verdict::Invalid);
}

}  // namespace
}  // namespace cloakroom::runtime
