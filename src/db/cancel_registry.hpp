// PostgreSQL query cancellation: a client cancels by opening a NEW connection and sending
// CancelRequest(pid, secret) from the BackendKeyData it received. Cloakroom relays the upstream's
// BackendKeyData unchanged, so the key is the upstream's; this registry remembers which keys
// belong to live sessions so that only those are forwarded (an unknown key is dropped without
// contacting the server, as PostgreSQL itself answers nothing). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <utility>

namespace cloakroom::db {

class CancelRegistry {
  public:
    void add(std::uint32_t pid, std::uint32_t secret);
    void remove(std::uint32_t pid, std::uint32_t secret);
    bool contains(std::uint32_t pid, std::uint32_t secret) const;

  private:
    mutable std::mutex mutex_;
    std::set<std::pair<std::uint32_t, std::uint32_t>> keys_;
};

}  // namespace cloakroom::db
