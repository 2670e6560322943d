// Verification cache (issue #5): remembers what the signature check of a token text established
// (key id, token id, the caveats of the main token and its discharges), so that a token seen
// again skips base64, msgpack and the HMAC chain. Caveats are still evaluated per request
// against the request and the current time, so expiry and every request-dependent caveat keep
// working on a hit.
//
// Safety rules:
//   * Entries are keyed by the FULL header/token text (main token and discharges) and compared
//     as whole strings, never by a hash alone; one differing byte is a miss.
//   * An entry also records the KeyStore and token prefix it was verified with and only hits
//     for the same ones. The gateway keeps one cache per runtime snapshot (runtime::Runtime), so
//     a reload that rotates or removes keys starts from an empty cache.
//   * Only successful signature verifications are stored (see verify.cpp).
//   * Bounded: at most `capacity` entries per shard (least recently used evicted first) and no
//     header longer than kMaxCachedHeaderBytes, so the worst case memory is small and fixed.
//   * Sharded by thread (kShards shards, a thread always uses the same one): the gateway's
//     worker threads never wait for each other's lookups. A token is verified once per worker
//     thread instead of once per process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "token/caveat.hpp"
#include "token/keys.hpp"

namespace cloakroom::token {

// Everything verification established before the per-request caveat evaluation.
struct VerifiedToken {
    std::string token_id;
    std::string key_id;
    std::vector<Caveat> caveats;  // main token's, then each discharge's (as verify returns them)
};

class VerifyCache {
  public:
    static constexpr std::size_t kDefaultCapacity = 10000;
    static constexpr std::size_t kMaxCachedHeaderBytes = 8 * 1024;

    explicit VerifyCache(std::size_t capacity = kDefaultCapacity);
    VerifyCache(const VerifyCache&) = delete;
    VerifyCache& operator=(const VerifyCache&) = delete;

    // The entry for exactly this text, verified with `keys` under `prefix`; nullptr on a miss.
    // A hit becomes the most recently used entry.
    std::shared_ptr<const VerifiedToken> find(std::string_view header, const KeyStore& keys,
                                              std::string_view prefix);
    // Stores (or replaces) the entry for `header`, evicting the least recently used entry when
    // full. Headers longer than kMaxCachedHeaderBytes are not stored.
    void insert(std::string_view header, const KeyStore& keys, std::string_view prefix,
                std::shared_ptr<const VerifiedToken> verified);

    // Totals over all shards.
    std::size_t size() const;
    std::size_t capacity() const { return capacity_; }  // per shard
    std::uint64_t hits() const;
    std::uint64_t misses() const;

    static constexpr std::size_t kShards = 8;

  private:
    struct Entry {
        std::string header;
        std::string prefix;
        const KeyStore* keys = nullptr;
        std::shared_ptr<const VerifiedToken> verified;
    };
    using Lru = std::list<Entry>;  // front = most recently used

    struct Shard {
        mutable std::mutex mutex;
        Lru lru;
        // Ordered by the whole text (keys point into the list's strings, which never move): no
        // hash an attacker could aim collisions at, and every hit is a full string comparison.
        std::map<std::string_view, Lru::iterator> index;
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
    };
    Shard& shard();

    const std::size_t capacity_;
    Shard shards_[kShards];
};

}  // namespace cloakroom::token
