#include "runtime/token_usage.hpp"

#include <algorithm>

#include "runtime/exchange.hpp"

namespace cloakroom::runtime {

void TokenUsage::record(const AuditRecord& record) {
    if (record.token_id.empty()) return;
    std::lock_guard lock(mutex_);
    auto found = uses_.find(record.token_id);
    if (found == uses_.end()) {
        if (uses_.size() >= kMaxTokens) {
            // Rare (10000 distinct tokens): drop the least recently seen one.
            auto oldest =
                std::min_element(uses_.begin(), uses_.end(), [](const auto& a, const auto& b) {
                    return a.second.last_seen_ms < b.second.last_seen_ms;
                });
            uses_.erase(oldest);
        }
        found = uses_.emplace(record.token_id, TokenUse{}).first;
        found->second.token_id = record.token_id;
    }
    TokenUse& use = found->second;
    if (use.service != record.service) use.service = record.service;
    ++use.requests;
    if (record.decision == kDeny) ++use.denied;
    use.bytes_in += record.bytes_in;
    use.bytes_out += record.bytes_out;
    use.last_seen_ms = std::max(
        use.last_seen_ms, record.time_ms + static_cast<std::int64_t>(record.duration_us / 1000));
}

std::vector<TokenUse> TokenUsage::snapshot() const {
    std::vector<TokenUse> out;
    {
        std::lock_guard lock(mutex_);
        out.reserve(uses_.size());
        for (const auto& [id, use] : uses_) out.push_back(use);
    }
    std::sort(out.begin(), out.end(),
              [](const TokenUse& a, const TokenUse& b) { return a.last_seen_ms > b.last_seen_ms; });
    return out;
}

TokenUsage& token_usage() {
    static TokenUsage* process = new TokenUsage();  // never destroyed: threads may count at exit
    return *process;
}

}  // namespace cloakroom::runtime
