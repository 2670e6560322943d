#include "proxy/injection_cache.hpp"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace cloakroom::proxy {
namespace {

thread_local detail::InjectionCacheStats stats;

class InjectionCache {
  public:
    // A hit needs the same owner (compared by address, then checked alive: an address alone may
    // have been reused), the same credential object and the same secret bytes.
    std::shared_ptr<const PreparedInjection> find(const void* owner,
                                                  const config::Credential& credential,
                                                  const InjectionSecrets& secrets) {
        ++clock_;
        for (Entry& entry : entries_) {
            if (entry.owner_address == owner && entry.credential == &credential &&
                !entry.owner.expired() && entry.secrets.same_as(secrets)) {
                entry.last_use = clock_;
                return entry.prepared;
            }
        }
        return nullptr;
    }

    void store(const std::shared_ptr<const void>& owner, const config::Credential& credential,
               InjectionSecrets secrets, std::shared_ptr<const PreparedInjection> prepared) {
        // Entries of snapshots that are gone are dropped (and wiped) first.
        std::erase_if(entries_, [](const Entry& entry) { return entry.owner.expired(); });
        // One entry per credential and owner: a rotated secret replaces the old plan.
        auto slot = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& entry) {
            return entry.owner_address == owner.get() && entry.credential == &credential;
        });
        if (slot == entries_.end()) {
            if (entries_.size() < detail::kInjectionCacheCapacity) {
                slot = entries_.insert(entries_.end(), Entry{});
            } else {
                slot = std::min_element(
                    entries_.begin(), entries_.end(),
                    [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
            }
        }
        slot->owner = owner;
        slot->owner_address = owner.get();
        slot->credential = &credential;
        slot->secrets = std::move(secrets);
        slot->prepared = std::move(prepared);
        slot->last_use = clock_;
    }

  private:
    struct Entry {
        std::weak_ptr<const void> owner;
        const void* owner_address = nullptr;
        const config::Credential* credential = nullptr;
        InjectionSecrets secrets;  // what the plan was built from (SecretValues: wiped)
        std::shared_ptr<const PreparedInjection> prepared;
        std::uint64_t last_use = 0;
    };
    std::vector<Entry> entries_;
    std::uint64_t clock_ = 0;
};

}  // namespace

Result<std::shared_ptr<const PreparedInjection>> prepare_injection(
    const std::shared_ptr<const void>& owner, const config::Credential& credential,
    const secrets::SecretResolver& resolver) {
    thread_local InjectionCache cache;
    auto resolved = resolve_injection_secrets(credential, resolver);
    if (!resolved.ok()) return resolved.error();
    if (owner) {
        if (auto hit = cache.find(owner.get(), credential, *resolved)) {
            ++stats.hits;
            return hit;
        }
    }
    auto plan = build_injection_plan(credential, *resolved);
    if (!plan.ok()) return plan.error();
    auto prepared = std::make_shared<PreparedInjection>();
    prepared->plan = std::move(*plan);
    std::vector<std::string_view> needles;
    needles.reserve(prepared->plan.values_to_redact.size());
    for (const auto& value : prepared->plan.values_to_redact) needles.push_back(value.reveal());
    prepared->needles = CompiledNeedles(std::move(needles));
    ++stats.builds;
    std::shared_ptr<const PreparedInjection> shared = std::move(prepared);
    if (owner) cache.store(owner, credential, std::move(*resolved), shared);
    return shared;
}

namespace detail {
InjectionCacheStats injection_cache_stats() {
    return stats;
}
}  // namespace detail

}  // namespace cloakroom::proxy
