// The dashboard's in-memory audit ring and decision series (runtime/recent_audit.hpp).
#include <gtest/gtest.h>

#include "runtime/recent_audit.hpp"

namespace cloakroom::runtime {
namespace {

AuditRecord make(std::int64_t time_ms, std::string decision, std::string path = "/p") {
    AuditRecord record;
    record.time_ms = time_ms;
    record.decision = std::move(decision);
    record.path = std::move(path);
    return record;
}

std::size_t index_of(std::string_view decision) {
    for (std::size_t i = 0; i < kSeriesDecisions.size(); ++i) {
        if (kSeriesDecisions[i] == decision) return i;
    }
    return kSeriesDecisions.size();
}

TEST(RuntimeRecentAudit, KeepsTheLastNInOrderWithSequenceNumbers) {
    RecentAudit ring(3);
    EXPECT_EQ(ring.last_seq(), 0u);
    EXPECT_TRUE(ring.since(0, 100).records.empty());
    for (int i = 1; i <= 5; ++i) ring.record(make(1000, "allow", "/r" + std::to_string(i)));
    EXPECT_EQ(ring.last_seq(), 5u);
    const auto slice = ring.since(0, 100);
    EXPECT_EQ(slice.last_seq, 5u);
    const auto& all = slice.records;
    ASSERT_EQ(all.size(), 3u);  // the two oldest were overwritten
    EXPECT_EQ(all[0].seq, 3u);
    EXPECT_EQ(all[0].record.path, "/r3");
    EXPECT_EQ(all[2].seq, 5u);
    EXPECT_EQ(all[2].record.path, "/r5");
    auto newer = ring.since(4, 100).records;
    ASSERT_EQ(newer.size(), 1u);
    EXPECT_EQ(newer[0].record.path, "/r5");
    EXPECT_TRUE(ring.since(5, 100).records.empty());
    EXPECT_TRUE(ring.since(99, 100).records.empty());
    // A limit keeps the newest ones.
    auto limited = ring.since(0, 2).records;
    ASSERT_EQ(limited.size(), 2u);
    EXPECT_EQ(limited[0].seq, 4u);
    EXPECT_EQ(limited[1].seq, 5u);
    EXPECT_TRUE(ring.since(0, 0).records.empty());
    EXPECT_EQ(ring.since(0, 0).last_seq, 5u);
}

TEST(RuntimeRecentAudit, ASlotReusedKeepsNothingOfTheOlderRecord) {
    RecentAudit ring(1);
    AuditRecord db = make(1000, "allow", "/a-long-path-of-the-first-record");
    db.kind = kAuditDatabase;
    db.protocol = "postgres";
    db.login = "app";
    ring.record(db);
    ring.record(make(2000, "deny", "/b"));
    auto only = ring.since(0, 10).records;
    ASSERT_EQ(only.size(), 1u);
    EXPECT_EQ(only[0].record.path, "/b");
    EXPECT_EQ(only[0].record.kind, kAuditHttp);
    EXPECT_EQ(only[0].record.protocol, "");
    EXPECT_EQ(only[0].record.login, "");
    EXPECT_EQ(only[0].record.decision, "deny");
}

TEST(RuntimeRecentAudit, CountsDecisionsPerSecondInAWindow) {
    RecentAudit ring;
    const std::int64_t base = 1'700'000'000;
    ring.record(make(base * 1000 + 10, "allow"));
    ring.record(make(base * 1000 + 990, "allow"));
    ring.record(make(base * 1000 + 500, "deny"));
    ring.record(make((base + 1) * 1000, "deny"));
    ring.record(make((base + 1) * 1000, "something-new"));
    AuditRecord revocation = make((base + 1) * 1000, "deny");
    revocation.kind = kAuditRevocation;
    ring.record(revocation);  // shown in the records, not counted as a request
    const auto series = ring.series(base + 1);
    EXPECT_EQ(series.end_second, base + 1);
    const std::size_t last = DecisionSeries::kBuckets - 1;
    EXPECT_EQ(series.counts[index_of("allow")][last - 1], 2u);
    EXPECT_EQ(series.counts[index_of("deny")][last - 1], 1u);
    EXPECT_EQ(series.counts[index_of("deny")][last], 1u);
    EXPECT_EQ(series.counts[index_of("other")][last], 1u);
    EXPECT_EQ(series.counts[index_of("allow")][last], 0u);
    EXPECT_EQ(ring.since(0, 100).records.size(), 6u);
    // Later, the same seconds slide left, then out of the window.
    const auto later = ring.series(base + 11);
    EXPECT_EQ(later.counts[index_of("allow")][last - 11], 2u);
    const auto gone = ring.series(base + 1 + static_cast<std::int64_t>(DecisionSeries::kBuckets));
    for (const auto& counts : gone.counts) {
        for (auto count : counts) EXPECT_EQ(count, 0u);
    }
}

TEST(RuntimeRecentAudit, ABucketOfTheSameSlotALapLaterStartsFromZero) {
    RecentAudit ring;
    const std::int64_t base = 1'700'000'000;
    const auto lap = static_cast<std::int64_t>(DecisionSeries::kBuckets);
    ring.record(make(base * 1000, "allow"));
    ring.record(make((base + lap) * 1000, "deny"));  // same slot, one lap later
    ring.record(make(base * 1000, "allow"));         // late and out of the window: dropped
    const auto series = ring.series(base + lap);
    const std::size_t last = DecisionSeries::kBuckets - 1;
    EXPECT_EQ(series.counts[index_of("deny")][last], 1u);
    EXPECT_EQ(series.counts[index_of("allow")][last], 0u);
    std::uint64_t total = 0;
    for (const auto& counts : series.counts) {
        for (auto count : counts) total += count;
    }
    EXPECT_EQ(total, 1u);
}

}  // namespace
}  // namespace cloakroom::runtime
