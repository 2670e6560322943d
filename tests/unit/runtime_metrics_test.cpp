// Metrics: counting, the text exposition format, and label values only from closed sets or
// configuration names (never a token id, secret, host or path).
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "runtime/exchange.hpp"
#include "runtime/metrics.hpp"

namespace cloakroom::runtime {
namespace {

AuditRecord record(std::string service, std::string decision, unsigned status) {
    AuditRecord out;
    out.kind = kAuditHttp;
    out.service = std::move(service);
    out.decision = std::move(decision);
    out.status = status;
    out.bytes_in = 10;
    out.bytes_out = 100;
    out.duration_us = 20000;  // 20 ms
    return out;
}

std::set<std::string, std::less<>> config_names() {
    return {"stripe", "app"};
}

// Every label value of every sample line.
std::vector<std::pair<std::string, std::string>> labels_of(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream lines(text);
    std::string line;
    const std::regex label(R"re(([a-z_]+)="((?:[^"\\]|\\.)*)")re");
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        for (std::sregex_iterator it(line.begin(), line.end(), label), end; it != end; ++it) {
            out.emplace_back((*it)[1], (*it)[2]);
        }
    }
    return out;
}

TEST(RuntimeMetrics, CountsRequestsBytesAndDurations) {
    Metrics metrics;
    metrics.observe(record("stripe", "allow", 200), "");
    metrics.observe(record("stripe", "allow", 200), "");
    metrics.observe(record("stripe", "deny", 403), "token_forbidden");
    const std::string text = metrics.exposition(config_names());
    EXPECT_NE(
        text.find("cloakroom_requests_total{kind=\"http\",service=\"stripe\",decision=\"allow\","
                  "status=\"200\",error=\"none\"} 2\n"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find("decision=\"deny\",status=\"403\",error=\"token_forbidden\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("cloakroom_request_bytes_total{kind=\"http\",service=\"stripe\"} 30\n"),
              std::string::npos);
    EXPECT_NE(text.find("cloakroom_response_bytes_total{kind=\"http\",service=\"stripe\"} 300\n"),
              std::string::npos);
    // 20 ms falls in the 0.025 bucket, not in 0.01; cumulative.
    EXPECT_NE(
        text.find("cloakroom_request_duration_seconds_bucket{kind=\"http\",service=\"stripe\","
                  "le=\"0.01\"} 0\n"),
        std::string::npos);
    EXPECT_NE(
        text.find("cloakroom_request_duration_seconds_bucket{kind=\"http\",service=\"stripe\","
                  "le=\"0.025\"} 3\n"),
        std::string::npos);
    EXPECT_NE(text.find("le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(
        text.find("cloakroom_request_duration_seconds_count{kind=\"http\",service=\"stripe\"} "
                  "3\n"),
        std::string::npos);
    EXPECT_EQ(metrics.requests_total(), 3u);
}

// The class of leak: anything an agent or upstream controls that could reach a label. Token
// ids, secrets, hosts, paths, reasons, odd error ids, kinds and decisions all come out as
// closed-set values or configuration names.
TEST(RuntimeMetrics, LabelValuesComeFromClosedSetsOrConfigNames) {
    Metrics metrics;
    const std::string secret = "sk_live_canary_51H8";
    const std::string token_id = "0123456789abcdef0123456789abcdef";
    AuditRecord hostile = record(token_id, "allow", 200);
    hostile.token_id = token_id;
    hostile.path = "/v1/customers/" + secret;
    hostile.host = "evil.example:443";
    hostile.reason = secret;
    metrics.observe(hostile, "");
    metrics.observe(record("/etc/passwd?token=" + secret, "deny", 403), secret);
    AuditRecord odd = record("stripe", "made-up-decision\"}", 99999);
    odd.kind = "kind\ninjected";
    metrics.observe(odd, "not_an_error_id");
    metrics.observe(record("", "tunnel", 200), "");
    metrics.observe(record("app", "allow", 201), "");
    metrics.limit_hit(secret, LimitScope::Token, LimitKind::Rate);
    metrics.add(Event::ReloadOk);

    const std::string text = metrics.exposition(config_names());
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
    EXPECT_EQ(text.find(token_id), std::string::npos);
    EXPECT_EQ(text.find("evil"), std::string::npos);
    EXPECT_EQ(text.find("passwd"), std::string::npos);

    const std::set<std::string> kinds = {"http", "tunnel",     "database", "transparent",
                                         "dns",  "revocation", "admin",    "other"};
    const std::set<std::string> decisions = {"allow", "passthrough", "forward", "tunnel",
                                             "deny",  "error",       "other"};
    const std::set<std::string> services = {"stripe", "app", "none", "other"};
    const std::set<std::string> scopes = {"token", "service", "global"};
    const std::set<std::string> limits = {"rate", "concurrency", "budget"};
    const std::set<std::string> sides = {"agent", "upstream"};
    const std::set<std::string> results = {"ok", "failed", "hit", "miss"};
    const std::set<std::string> sources = {"pool", "dialed"};
    const std::regex status("[0-9]{1,3}");
    const std::regex error("[a-z_]{1,40}");
    const std::regex bucket("\\+Inf|[0-9.]+");
    std::set<std::string> seen_services;
    for (const auto& [name, value] : labels_of(text)) {
        if (name == "kind") {
            EXPECT_TRUE(kinds.contains(value)) << value;
        } else if (name == "decision") {
            EXPECT_TRUE(decisions.contains(value)) << value;
        } else if (name == "service") {
            EXPECT_TRUE(services.contains(value)) << value;
            seen_services.insert(value);
        } else if (name == "status") {
            EXPECT_TRUE(std::regex_match(value, status)) << value;
        } else if (name == "error") {
            EXPECT_EQ(error_label(value), value) << "not a known error id: " << value;
        } else if (name == "scope") {
            EXPECT_TRUE(scopes.contains(value)) << value;
        } else if (name == "limit") {
            EXPECT_TRUE(limits.contains(value)) << value;
        } else if (name == "side") {
            EXPECT_TRUE(sides.contains(value)) << value;
        } else if (name == "result") {
            EXPECT_TRUE(results.contains(value)) << value;
        } else if (name == "source") {
            EXPECT_TRUE(sources.contains(value)) << value;
        } else if (name == "le") {
            EXPECT_TRUE(std::regex_match(value, bucket)) << value;
        } else {
            ADD_FAILURE() << "unexpected label " << name << "=" << value;
        }
    }
    // Folded, not dropped: the hostile exchanges still count.
    EXPECT_TRUE(seen_services.contains("other"));
    EXPECT_TRUE(seen_services.contains("none"));
    EXPECT_TRUE(seen_services.contains("app"));
    EXPECT_NE(text.find("kind=\"other\",service=\"stripe\",decision=\"other\",status=\"0\","
                        "error=\"other\"} 1"),
              std::string::npos)
        << text;
}

TEST(RuntimeMetrics, AServiceRemovedFromTheConfigurationBecomesOther) {
    Metrics metrics;
    metrics.observe(record("stripe", "allow", 200), "");
    EXPECT_NE(metrics.exposition({"stripe"}).find("service=\"stripe\""), std::string::npos);
    const std::string after = metrics.exposition({"app"});
    EXPECT_EQ(after.find("service=\"stripe\""), std::string::npos);
    EXPECT_NE(after.find("service=\"other\""), std::string::npos);
}

TEST(RuntimeMetrics, ThreadsCountIntoTheirOwnShardsAndScrapesSumThem) {
    Metrics metrics;
    constexpr int kThreads = 4;
    constexpr int kEach = 5000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; ++i) {
                metrics.add(Event::PoolReused);
                metrics.observe(record("stripe", "allow", 200), "");
            }
        });
    }
    for (int i = 0; i < 50; ++i) (void)metrics.exposition(config_names());  // scrapes meanwhile
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(metrics.total(Event::PoolReused), std::uint64_t{kThreads} * kEach);
    EXPECT_EQ(metrics.requests_total(), std::uint64_t{kThreads} * kEach);
}

TEST(RuntimeMetrics, AnExchangeIsCountedOnceWithItsRefusalErrorId) {
    const auto before = metrics().exposition({"svc-metrics-once"});
    {
        Exchange exchange(nullptr, kAuditHttp, "127.0.0.1:1");
        exchange.record().service = "svc-metrics-once";
        const Refusal refusal{429, "rate_limited", "too many"};
        exchange.refuse(refusal);
        exchange.finish();
        exchange.finish();  // once
    }
    const auto text = metrics().exposition({"svc-metrics-once"});
    EXPECT_NE(text.find("service=\"svc-metrics-once\",decision=\"deny\",status=\"429\","
                        "error=\"rate_limited\"} 1\n"),
              std::string::npos)
        << text;
}

TEST(RuntimeMetrics, ExpositionEscapesLabelValues) {
    std::string out;
    ExpositionWriter writer(out);
    writer.sample("m", {{"a", "x\"y\\z\nw"}}, 1.5);
    EXPECT_EQ(out, "m{a=\"x\\\"y\\\\z\\nw\"} 1.5\n");
}

}  // namespace
}  // namespace cloakroom::runtime
