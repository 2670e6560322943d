// Leaf certificates for intercepted hosts, minted on demand from Cloakroom's CA and cached per
// host. Thread-safe: the proxy calls get() from one event loop per core.
#pragma once

#include <atomic>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tls/certificate_authority.hpp"
#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

// Immutable once minted; shared by every connection to its host until it is renewed.
struct Leaf {
    X509Ptr cert;
    std::shared_ptr<EVP_PKEY> key;
    std::int64_t not_after = 0;   // Unix seconds
    std::int64_t not_before = 0;  // Unix seconds
    std::string host;             // canonical host it was minted for (see parse_tls_host)
};

struct LeafOptions {
    std::chrono::seconds validity{std::chrono::hours(24)};
    // Must be shorter than validity; the constructor clamps it to validity / 2 otherwise.
    std::chrono::seconds renew_before{std::chrono::hours(1)};
    std::size_t max_entries = 10000;  // least recently used hosts are dropped beyond this
};

class LeafCache {
  public:
    // Generates the one ECDSA P-256 key all leaves share (a key per leaf would make minting
    // ~10x slower for no gain: the leaf key never leaves this process, and the CA key is what
    // an attacker would want). If that fails, every get() returns the error.
    explicit LeafCache(std::shared_ptr<const CertificateAuthority> ca, LeafOptions options = {});
    LeafCache(const LeafCache&) = delete;
    LeafCache& operator=(const LeafCache&) = delete;

    // The leaf for `host` (DNS name → SAN DNS, IPv4/IPv6 literal → SAN IP; brackets stripped;
    // case and a trailing dot do not matter). Cached per canonical host and re-minted when
    // fewer than renew_before seconds remain or `now_unix` is before its notBefore (clock set
    // back). Leaves: random 16-byte serial, notBefore = now - 5 min (client clock skew),
    // notAfter = now + validity (never past the CA's), CN = host (first 64 characters), SAN,
    // EKU serverAuth, keyUsage digitalSignature, basicConstraints CA:FALSE, SKI, AKI.
    // Errors: "tls.host" for an invalid host, "tls.leaf" when minting fails (e.g. expired CA).
    Result<std::shared_ptr<const Leaf>> get(std::string_view host, std::int64_t now_unix);
    // Same, at the current time.
    Result<std::shared_ptr<const Leaf>> get(std::string_view host);

    std::size_t size() const;
    // Lookups answered from the cache, and those that minted a leaf (metrics).
    std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
    std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
    const CertificateAuthority& ca() const { return *ca_; }

  private:
    struct Entry {
        std::string host;
        std::shared_ptr<const Leaf> leaf;
    };
    using Lru = std::list<Entry>;

    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};

    bool fresh(const Leaf& leaf, std::int64_t now) const;
    std::shared_ptr<const Leaf> lookup(const std::string& host, std::int64_t now);
    std::shared_ptr<const Leaf> insert(const std::string& host, std::shared_ptr<const Leaf> leaf,
                                       std::int64_t now);

    std::shared_ptr<const CertificateAuthority> ca_;
    LeafOptions options_;
    std::shared_ptr<EVP_PKEY> leaf_key_;
    std::optional<Error> init_error_;

    mutable std::mutex mutex_;
    Lru lru_;  // front = most recently used
    std::unordered_map<std::string, Lru::iterator> index_;
};

}  // namespace cloakroom::tls
