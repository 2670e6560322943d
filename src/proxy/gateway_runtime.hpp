// Everything a request needs that a reload can change, as one immutable snapshot. Requests hold
// a shared_ptr to the snapshot they started with, so a reload never changes a request midway.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/audit.hpp"
#include "secrets/resolver.hpp"
#include "token/keys.hpp"
#include "token/verify_cache.hpp"
#include "util/result.hpp"

namespace cloakroom::proxy {

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

    boost::asio::ssl::context& upstream_context(const config::Service* service) const;
};

// Builds a snapshot: loads keys, opens the audit sink (reusing `previous` when the target is
// unchanged), creates upstream TLS contexts. Any failure leaves the caller's snapshot in place.
Result<std::shared_ptr<const Runtime>> build_runtime(config::Config config,
                                                     std::shared_ptr<AuditSink> previous_audit,
                                                     const std::string& previous_audit_target);

// The current snapshot, swapped atomically by reloads.
class RuntimeHolder {
  public:
    explicit RuntimeHolder(std::shared_ptr<const Runtime> initial) : current_(std::move(initial)) {}
    std::shared_ptr<const Runtime> get() const {
        std::lock_guard lock(mutex_);
        return current_;
    }
    void set(std::shared_ptr<const Runtime> next) {
        std::lock_guard lock(mutex_);
        current_ = std::move(next);
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Runtime> current_;
};

}  // namespace cloakroom::proxy
