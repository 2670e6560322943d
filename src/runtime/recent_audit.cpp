#include "runtime/recent_audit.hpp"

#include <algorithm>

namespace cloakroom::runtime {
namespace {

std::size_t decision_index(std::string_view decision) {
    for (std::size_t i = 0; i + 1 < kSeriesDecisions.size(); ++i) {
        if (kSeriesDecisions[i] == decision) return i;
    }
    return kSeriesDecisions.size() - 1;  // "other"
}

std::int64_t floor_second(std::int64_t unix_ms) {
    return unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
}

std::size_t bucket_index(std::int64_t second) {
    const auto n = static_cast<std::int64_t>(DecisionSeries::kBuckets);
    return static_cast<std::size_t>(((second % n) + n) % n);
}

// Field by field so that the slot's strings keep their capacity.
void copy_into(AuditRecord& to, const AuditRecord& from) {
    to.time_ms = from.time_ms;
    to.token_id.assign(from.token_id);
    to.service.assign(from.service);
    to.host.assign(from.host);
    to.method.assign(from.method);
    to.path.assign(from.path);
    to.decision.assign(from.decision);
    to.reason.assign(from.reason);
    to.status = from.status;
    to.bytes_in = from.bytes_in;
    to.bytes_out = from.bytes_out;
    to.duration_us = from.duration_us;
    to.client.assign(from.client);
    to.kind = from.kind;  // one of the kAudit* constants: static storage
    to.protocol.assign(from.protocol);
    to.login.assign(from.login);
    to.db_name.assign(from.db_name);
}

}  // namespace

RecentAudit::RecentAudit(std::size_t capacity) : slots_(std::max<std::size_t>(capacity, 1)) {}

void RecentAudit::record(const AuditRecord& record) {
    // The record's second is when the request arrived: a long request counts where it began,
    // like its audit line's "time".
    const std::int64_t second = floor_second(record.time_ms);
    const std::size_t decision = decision_index(record.decision);
    std::lock_guard lock(mutex_);
    RecentRecord& slot = slots_[(next_seq_ - 1) % slots_.size()];
    slot.seq = next_seq_++;
    copy_into(slot.record, record);
    if (record.kind == kAuditRevocation) return;  // an operator's act, not an agent's request
    Bucket& bucket = buckets_[bucket_index(second)];
    if (bucket.second != second) {
        if (bucket.second > second) return;  // older than the window: not plotted
        bucket.second = second;
        bucket.counts.fill(0);
    }
    ++bucket.counts[decision];
}

RecentAudit::Slice RecentAudit::since(std::uint64_t after, std::size_t limit) const {
    Slice out;
    std::lock_guard lock(mutex_);
    const std::uint64_t newest = next_seq_ - 1;
    out.last_seq = newest;
    const std::uint64_t oldest_kept = newest >= slots_.size() ? newest - slots_.size() + 1 : 1;
    std::uint64_t first = std::max(after + 1, oldest_kept);
    if (newest >= first && newest - first + 1 > limit) first = newest - limit + 1;
    for (std::uint64_t seq = first; seq <= newest && limit != 0; ++seq) {
        out.records.push_back(slots_[(seq - 1) % slots_.size()]);
    }
    return out;
}

std::uint64_t RecentAudit::last_seq() const {
    std::lock_guard lock(mutex_);
    return next_seq_ - 1;
}

DecisionSeries RecentAudit::series(std::int64_t now_second) const {
    DecisionSeries out;
    out.end_second = now_second;
    for (auto& counts : out.counts) counts.assign(DecisionSeries::kBuckets, 0);
    const auto n = static_cast<std::int64_t>(DecisionSeries::kBuckets);
    std::lock_guard lock(mutex_);
    for (const Bucket& bucket : buckets_) {
        // Only seconds inside the window: a bucket last written a full lap ago is stale.
        if (bucket.second < 0 || bucket.second > now_second || bucket.second <= now_second - n) {
            continue;
        }
        const auto index = static_cast<std::size_t>(bucket.second - (now_second - n + 1));
        for (std::size_t d = 0; d < kSeriesDecisions.size(); ++d) {
            out.counts[d][index] = bucket.counts[d];
        }
    }
    return out;
}

RecentAudit& recent_audit() {
    static RecentAudit* process = new RecentAudit();
    return *process;
}

}  // namespace cloakroom::runtime
