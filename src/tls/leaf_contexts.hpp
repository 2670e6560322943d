// Server-side TLS contexts that each present one leaf, so that a handshake for an intercepted
// host starts from a context already carrying its certificate and key instead of installing
// them on every connection (SSL_use_certificate / SSL_use_PrivateKey check the key against the
// certificate each time). Thread-safe; bounded separately from LeafCache because a context
// costs ~13 KiB, far more than a leaf.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tls/leaf_cache.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

class LeafContexts {
  public:
    // Least recently used hosts are dropped beyond max_entries (at least 1).
    explicit LeafContexts(std::size_t max_entries = 256);
    LeafContexts(const LeafContexts&) = delete;
    LeafContexts& operator=(const LeafContexts&) = delete;

    // A context with the settings of make_server_context() presenting exactly `leaf`. The
    // cached context is reused only for the same Leaf object (the one LeafCache hands out for
    // its host until it is renewed): a renewed leaf, or another host's, gets its own context,
    // so no host can be served another host's (or a stale) certificate from here.
    // The caller's reference keeps the context alive after eviction.
    // Errors: code "tls.context".
    Result<std::shared_ptr<SSL_CTX>> get(const std::shared_ptr<const Leaf>& leaf);

    std::size_t size() const;

  private:
    struct Entry {
        std::shared_ptr<const Leaf> leaf;  // held so the identity check cannot see a reused address
        std::shared_ptr<SSL_CTX> context;
    };
    using Lru = std::list<Entry>;

    std::size_t max_entries_;
    mutable std::mutex mutex_;
    Lru lru_;                                               // front = most recently used
    std::unordered_map<std::string, Lru::iterator> index_;  // by Leaf::host
};

}  // namespace cloakroom::tls
