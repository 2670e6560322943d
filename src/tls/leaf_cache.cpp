#include "tls/leaf_cache.hpp"

#include <ctime>

#include "tls/host_name.hpp"
#include "tls/leaf_mint.hpp"
#include "tls/openssl_error.hpp"

namespace cloakroom::tls {

LeafCache::LeafCache(std::shared_ptr<const CertificateAuthority> ca, LeafOptions options)
    : ca_(std::move(ca)), options_(options) {
    if (options_.validity.count() <= 0) options_.validity = std::chrono::hours(24);
    if (options_.renew_before >= options_.validity || options_.renew_before.count() < 0) {
        // Otherwise every get() would re-mint.
        options_.renew_before = options_.validity / 2;
    }
    if (options_.max_entries == 0) options_.max_entries = 1;
    if (!ca_) {
        init_error_ = make_error("tls.leaf", "no certificate authority");
        return;
    }
    EvpPkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) {
        init_error_ = openssl_error("tls.leaf", "cannot generate the leaf key");
        return;
    }
    leaf_key_ = share_key(std::move(key));
}

bool LeafCache::fresh(const Leaf& leaf, std::int64_t now) const {
    return now >= leaf.not_before && leaf.not_after - now >= options_.renew_before.count();
}

std::shared_ptr<const Leaf> LeafCache::lookup(const std::string& host, std::int64_t now) {
    std::lock_guard lock(mutex_);
    const auto found = index_.find(host);
    if (found == index_.end() || !fresh(*found->second->leaf, now)) return nullptr;
    lru_.splice(lru_.begin(), lru_, found->second);
    return found->second->leaf;
}

std::shared_ptr<const Leaf> LeafCache::insert(const std::string& host,
                                              std::shared_ptr<const Leaf> leaf, std::int64_t now) {
    std::lock_guard lock(mutex_);
    const auto found = index_.find(host);
    if (found != index_.end()) {
        // Another thread may have minted the same host meanwhile: keep one leaf per host, so
        // repeated gets return the same object.
        if (fresh(*found->second->leaf, now)) {
            lru_.splice(lru_.begin(), lru_, found->second);
            return found->second->leaf;
        }
        found->second->leaf = leaf;
        lru_.splice(lru_.begin(), lru_, found->second);
        return leaf;
    }
    lru_.push_front(Entry{host, leaf});
    index_.emplace(host, lru_.begin());
    while (lru_.size() > options_.max_entries) {
        index_.erase(lru_.back().host);
        lru_.pop_back();
    }
    return leaf;
}

Result<std::shared_ptr<const Leaf>> LeafCache::get(std::string_view host, std::int64_t now_unix) {
    if (init_error_) return *init_error_;
    auto parsed = parse_tls_host(host);
    if (!parsed) return parsed.error();
    if (auto cached = lookup(parsed->name, now_unix)) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        return cached;
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
    // Minting happens outside the lock so a miss never stalls cache hits on other cores.
    auto minted = mint_leaf(*ca_, *parsed, leaf_key_, now_unix, options_.validity.count());
    if (!minted) return minted.error();
    return insert(parsed->name, std::make_shared<const Leaf>(std::move(*minted)), now_unix);
}

Result<std::shared_ptr<const Leaf>> LeafCache::get(std::string_view host) {
    return get(host, static_cast<std::int64_t>(std::time(nullptr)));
}

std::size_t LeafCache::size() const {
    std::lock_guard lock(mutex_);
    return index_.size();
}

}  // namespace cloakroom::tls
