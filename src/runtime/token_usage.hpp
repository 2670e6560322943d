// What each token id did recently, for the admin API's sessions view: requests, bytes, last
// seen, the service it last used. Fed once per exchange (runtime::Exchange::finish), bounded
// (the least recently seen ids are dropped beyond kMaxTokens), in memory only.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/audit.hpp"

namespace cloakroom::runtime {

struct TokenUse {
    std::string token_id;
    std::string service;  // the last one
    std::uint64_t requests = 0;
    std::uint64_t denied = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::int64_t last_seen_ms = 0;
};

class TokenUsage {
  public:
    static constexpr std::size_t kMaxTokens = 10000;

    void record(const AuditRecord& record);
    // Most recently seen first.
    std::vector<TokenUse> snapshot() const;

  private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, TokenUse> uses_;
};

TokenUsage& token_usage();

}  // namespace cloakroom::runtime
