#include "db/cancel_registry.hpp"

namespace cloakroom::db {

void CancelRegistry::add(std::uint32_t pid, std::uint32_t secret) {
    std::lock_guard lock(mutex_);
    keys_.emplace(pid, secret);
}

void CancelRegistry::remove(std::uint32_t pid, std::uint32_t secret) {
    std::lock_guard lock(mutex_);
    keys_.erase({pid, secret});
}

bool CancelRegistry::contains(std::uint32_t pid, std::uint32_t secret) const {
    std::lock_guard lock(mutex_);
    return keys_.count({pid, secret}) != 0;
}

}  // namespace cloakroom::db
