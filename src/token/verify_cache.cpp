#include "token/verify_cache.hpp"

#include <utility>

namespace cloakroom::token {

VerifyCache::VerifyCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

std::shared_ptr<const VerifiedToken> VerifyCache::find(std::string_view header,
                                                       const KeyStore& keys,
                                                       std::string_view prefix) {
    std::lock_guard lock(mutex_);
    const auto found = index_.find(header);
    if (found == index_.end() || found->second->keys != &keys || found->second->prefix != prefix) {
        ++misses_;
        return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, found->second);
    ++hits_;
    return found->second->verified;
}

void VerifyCache::insert(std::string_view header, const KeyStore& keys, std::string_view prefix,
                         std::shared_ptr<const VerifiedToken> verified) {
    if (header.size() > kMaxCachedHeaderBytes || !verified) return;
    std::shared_ptr<const VerifiedToken> evicted;  // released after the lock
    std::lock_guard lock(mutex_);
    if (const auto found = index_.find(header); found != index_.end()) {
        Entry& entry = *found->second;
        entry.prefix.assign(prefix);
        entry.keys = &keys;
        evicted = std::exchange(entry.verified, std::move(verified));
        lru_.splice(lru_.begin(), lru_, found->second);
        return;
    }
    if (lru_.size() >= capacity_) {
        index_.erase(lru_.back().header);
        evicted = std::move(lru_.back().verified);
        lru_.pop_back();
    }
    lru_.push_front(Entry{std::string(header), std::string(prefix), &keys, std::move(verified)});
    index_.emplace(lru_.front().header, lru_.begin());
}

std::size_t VerifyCache::size() const {
    std::lock_guard lock(mutex_);
    return lru_.size();
}

std::uint64_t VerifyCache::hits() const {
    std::lock_guard lock(mutex_);
    return hits_;
}

std::uint64_t VerifyCache::misses() const {
    std::lock_guard lock(mutex_);
    return misses_;
}

}  // namespace cloakroom::token
