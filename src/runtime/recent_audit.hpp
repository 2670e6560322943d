// The last audit records, in memory, for the admin dashboard (docs/operations.md, "Dashboard"):
// a bounded ring of the records exactly as the audit log has them (already without token or
// secret: see runtime/audit.hpp), each with a sequence number so that a poller asks only for
// what is new, and per-second counts of decisions for the plot. Fed once per exchange
// (runtime::Exchange::finish) and by applied revocations; never on disk.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "runtime/audit.hpp"

namespace cloakroom::runtime {

// Decisions counted in the series; anything else counts as "other".
inline constexpr std::array<std::string_view, 7> kSeriesDecisions = {
    "allow", "passthrough", "forward", "tunnel", "deny", "error", "other"};

struct RecentRecord {
    std::uint64_t seq = 0;  // 1, 2, ...: the order records were added
    AuditRecord record;
};

struct DecisionSeries {
    static constexpr std::size_t kBuckets = 900;  // 15 minutes of one-second buckets
    std::int64_t end_second = 0;  // Unix second of the last bucket (the current one)
    // counts[d][i]: decision kSeriesDecisions[d] in second end_second - (kBuckets - 1 - i).
    std::array<std::vector<std::uint64_t>, kSeriesDecisions.size()> counts;
};

class RecentAudit {
  public:
    explicit RecentAudit(std::size_t capacity = 1000);

    // Copies the record into the ring (reusing the oldest slot's storage: no allocation once
    // the strings have grown) and counts its decision in its second.
    void record(const AuditRecord& record);

    struct Slice {
        std::vector<RecentRecord> records;
        std::uint64_t last_seq = 0;  // the newest record's, taken with them (0: none yet)
    };
    // Records with seq > `after`, oldest first, at most `limit` (the newest ones if more).
    Slice since(std::uint64_t after, std::size_t limit) const;
    // The sequence number of the newest record (0: none yet).
    std::uint64_t last_seq() const;
    std::size_t capacity() const { return slots_.size(); }

    // The decision counts of the kBuckets seconds ending at `now_second`.
    DecisionSeries series(std::int64_t now_second) const;

  private:
    struct Bucket {
        std::int64_t second = -1;
        std::array<std::uint64_t, kSeriesDecisions.size()> counts{};
    };
    mutable std::mutex mutex_;
    std::vector<RecentRecord> slots_;
    std::uint64_t next_seq_ = 1;
    std::array<Bucket, DecisionSeries::kBuckets> buckets_{};
};

// The process's ring (never destroyed: worker threads may finish exchanges at exit).
RecentAudit& recent_audit();

}  // namespace cloakroom::runtime
