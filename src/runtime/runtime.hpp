// Everything a request needs that a reload can change, as one immutable snapshot. Requests hold
// a shared_ptr to the snapshot they started with, so a reload never changes a request midway.
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "runtime/audit.hpp"
#include "runtime/rate_limit.hpp"
#include "runtime/revocation_store.hpp"
#include "secrets/resolver.hpp"
#include "token/keys.hpp"
#include "token/verify_cache.hpp"
#include "util/result.hpp"

namespace cloakroom::runtime {

struct Runtime {
    config::Config config;
    token::KeyStore keys;
    std::unique_ptr<secrets::SecretResolver> resolver;
    // Upstream TLS contexts by trust source: "" = system roots, else the CA file path.
    std::map<std::string, std::shared_ptr<boost::asio::ssl::context>> upstream_tls;
    std::shared_ptr<AuditSink> audit;
    // Database gateways: the TLS context towards each [[database]] whose tls mode is not
    // "disable", by database name (db::make_upstream_tls_context).
    std::map<std::string, std::shared_ptr<boost::asio::ssl::context>> database_tls;
    // Token verification cache for `keys` only: created with the snapshot, so a reload (key
    // rotation or removal) always starts empty and never validates a token with old keys.
    // The pointee is internally synchronized, hence usable through a const Runtime. May be null
    // (no caching), e.g. in tests that assemble a Runtime by hand.
    std::unique_ptr<token::VerifyCache> verify_cache;
    // The revocations the gateway enforces. Not part of the configuration: one live list for the
    // whole process, shared by every snapshot (a reload keeps it; `cloakroom revoke` changes it
    // without a reload). Null: nothing is revoked (tests that assemble a Runtime by hand).
    std::shared_ptr<const Revocations> revocations;
    // Rate limits and budgets: like revocations, one limiter for the process, shared by every
    // snapshot (a reload keeps the counts; the limits themselves come from `config`). Null: no
    // limits enforced (tests that assemble a Runtime by hand).
    std::shared_ptr<Limiter> limiter;

    boost::asio::ssl::context& upstream_context(const config::Service* service) const;
};

// Builds a snapshot: loads keys, opens the audit sink (reusing `previous` when the target is
// unchanged), creates upstream TLS contexts. Any failure leaves the caller's snapshot in place.
Result<std::shared_ptr<const Runtime>> build_runtime(
    config::Config config, std::shared_ptr<AuditSink> previous_audit,
    const std::string& previous_audit_target, std::shared_ptr<const Revocations> revocations = {},
    std::shared_ptr<Limiter> limiter = {});

// The current snapshot, swapped atomically by reloads. get() runs once per request on every
// worker: it copies a per-thread snapshot and takes the lock only after a reload (the version
// changed), so workers do not queue behind each other on the hot path.
class RuntimeHolder {
  public:
    explicit RuntimeHolder(std::shared_ptr<const Runtime> initial)
        : current_(std::move(initial)), version_(next_version()) {}
    std::shared_ptr<const Runtime> get() const {
        struct Snapshot {
            std::uint64_t version = 0;  // 0: none yet
            std::shared_ptr<const Runtime> runtime;
        };
        thread_local Snapshot snapshot;
        if (snapshot.version != version_.load(std::memory_order_acquire)) {
            std::lock_guard lock(mutex_);
            snapshot.version = version_.load(std::memory_order_relaxed);
            snapshot.runtime = current_;
        }
        return snapshot.runtime;
    }
    void set(std::shared_ptr<const Runtime> next) {
        std::shared_ptr<const Runtime> previous;  // released after the lock
        std::lock_guard lock(mutex_);
        previous = std::exchange(current_, std::move(next));
        version_.store(next_version(), std::memory_order_release);
    }

  private:
    // Unique across all holders of the process, so a thread's snapshot of one holder can never
    // pass for another's (tests create and destroy gateways on one thread).
    static std::uint64_t next_version() {
        static std::atomic<std::uint64_t> counter{0};
        return counter.fetch_add(1, std::memory_order_relaxed) + 1;
    }

    mutable std::mutex mutex_;
    std::shared_ptr<const Runtime> current_;
    std::atomic<std::uint64_t> version_;
};

}  // namespace cloakroom::runtime
