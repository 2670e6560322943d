#include "token/verify_cache.hpp"

#include <atomic>
#include <utility>

namespace cloakroom::token {

VerifyCache::VerifyCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

VerifyCache::Shard& VerifyCache::shard() {
    // Each thread gets an ordinal once; the gateway's workers then land on distinct shards.
    static std::atomic<unsigned> next_ordinal{0};
    thread_local const unsigned ordinal = next_ordinal.fetch_add(1, std::memory_order_relaxed);
    return shards_[ordinal % kShards];
}

std::shared_ptr<const VerifiedToken> VerifyCache::find(std::string_view header,
                                                       const KeyStore& keys,
                                                       std::string_view prefix) {
    Shard& s = shard();
    std::lock_guard lock(s.mutex);
    const auto found = s.index.find(header);
    if (found == s.index.end() || found->second->keys != &keys || found->second->prefix != prefix) {
        ++s.misses;
        return nullptr;
    }
    s.lru.splice(s.lru.begin(), s.lru, found->second);
    ++s.hits;
    return found->second->verified;
}

void VerifyCache::insert(std::string_view header, const KeyStore& keys, std::string_view prefix,
                         std::shared_ptr<const VerifiedToken> verified) {
    if (header.size() > kMaxCachedHeaderBytes || !verified) return;
    std::shared_ptr<const VerifiedToken> evicted;  // released after the lock
    Shard& s = shard();
    std::lock_guard lock(s.mutex);
    if (const auto found = s.index.find(header); found != s.index.end()) {
        Entry& entry = *found->second;
        entry.prefix.assign(prefix);
        entry.keys = &keys;
        evicted = std::exchange(entry.verified, std::move(verified));
        s.lru.splice(s.lru.begin(), s.lru, found->second);
        return;
    }
    if (s.lru.size() >= capacity_) {
        s.index.erase(s.lru.back().header);
        evicted = std::move(s.lru.back().verified);
        s.lru.pop_back();
    }
    s.lru.push_front(Entry{std::string(header), std::string(prefix), &keys, std::move(verified)});
    s.index.emplace(s.lru.front().header, s.lru.begin());
}

std::size_t VerifyCache::size() const {
    std::size_t total = 0;
    for (const Shard& s : shards_) {
        std::lock_guard lock(s.mutex);
        total += s.lru.size();
    }
    return total;
}

std::uint64_t VerifyCache::hits() const {
    std::uint64_t total = 0;
    for (const Shard& s : shards_) {
        std::lock_guard lock(s.mutex);
        total += s.hits;
    }
    return total;
}

std::uint64_t VerifyCache::misses() const {
    std::uint64_t total = 0;
    for (const Shard& s : shards_) {
        std::lock_guard lock(s.mutex);
        total += s.misses;
    }
    return total;
}

}  // namespace cloakroom::token
