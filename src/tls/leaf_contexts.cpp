#include "tls/leaf_contexts.hpp"

#include "tls/contexts.hpp"

namespace cloakroom::tls {

LeafContexts::LeafContexts(std::size_t max_entries)
    : max_entries_(max_entries == 0 ? 1 : max_entries) {}

Result<std::shared_ptr<SSL_CTX>> LeafContexts::get(const std::shared_ptr<const Leaf>& leaf) {
    if (!leaf) return make_error("tls.context", "no leaf to build a context for");
    {
        std::lock_guard lock(mutex_);
        const auto found = index_.find(leaf->host);
        if (found != index_.end() && found->second->leaf == leaf) {
            lru_.splice(lru_.begin(), lru_, found->second);
            return found->second->context;
        }
    }
    // Built outside the lock: a miss never stalls handshakes for other hosts.
    auto built = make_leaf_server_context(*leaf);
    if (!built) return built.error();
    std::shared_ptr<SSL_CTX> context(built->release(), SSL_CTX_free);

    std::lock_guard lock(mutex_);
    const auto found = index_.find(leaf->host);
    if (found != index_.end()) {
        // Another thread may have built one for the same leaf meanwhile: keep one per leaf.
        if (found->second->leaf == leaf) {
            lru_.splice(lru_.begin(), lru_, found->second);
            return found->second->context;
        }
        found->second->leaf = leaf;  // renewed leaf: its context replaces the old one
        found->second->context = context;
        lru_.splice(lru_.begin(), lru_, found->second);
        return context;
    }
    lru_.push_front(Entry{leaf, context});
    index_.emplace(leaf->host, lru_.begin());
    while (lru_.size() > max_entries_) {
        index_.erase(lru_.back().leaf->host);
        lru_.pop_back();
    }
    return context;
}

std::size_t LeafContexts::size() const {
    std::lock_guard lock(mutex_);
    return index_.size();
}

}  // namespace cloakroom::tls
