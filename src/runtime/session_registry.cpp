#include "runtime/session_registry.hpp"

#include <boost/asio/post.hpp>
#include <vector>

namespace cloakroom::runtime {

SessionRegistry::Registration::~Registration() {
    if (auto registry = registry_.lock()) registry->remove(id_);
}

std::unique_ptr<SessionRegistry::Registration> SessionRegistry::add(
    std::string_view kind, std::string_view token_id, boost::asio::any_io_executor executor,
    Closer close, std::optional<std::int64_t> minted) {
    std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    entries_.emplace(id, Entry{std::string(kind), std::string(token_id), std::move(executor),
                               std::move(close), minted});
    return std::make_unique<Registration>(weak_from_this(), id);
}

std::size_t SessionRegistry::end_sessions(std::string_view token_id) {
    return end_where(
        [&](const Entry& entry) { return !token_id.empty() && entry.token_id == token_id; });
}

std::size_t SessionRegistry::end_revoked(const RevocationList& revocations) {
    if (revocations.empty()) return 0;
    return end_where([&](const Entry& entry) {
        return !entry.token_id.empty() && revocations.find(entry.token_id, entry.minted) != nullptr;
    });
}

template <class Predicate>
std::size_t SessionRegistry::end_where(Predicate ends) {
    std::vector<std::pair<std::uint64_t, boost::asio::any_io_executor>> targets;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_) {
            if (ends(entry)) targets.emplace_back(id, entry.executor);
        }
    }
    // The closer runs where the session runs; by then the session may have ended on its own,
    // which close_if_live checks under the lock.
    for (auto& [id, executor] : targets) {
        boost::asio::post(executor,
                          [self = shared_from_this(), id = id] { self->close_if_live(id); });
    }
    return targets.size();
}

std::size_t SessionRegistry::live(std::string_view kind) const {
    std::lock_guard lock(mutex_);
    if (kind.empty()) return entries_.size();
    std::size_t count = 0;
    for (const auto& [id, entry] : entries_) count += entry.kind == kind ? 1 : 0;
    return count;
}

void SessionRegistry::remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
}

void SessionRegistry::close_if_live(std::uint64_t id) {
    Closer close;
    {
        std::lock_guard lock(mutex_);
        auto found = entries_.find(id);
        if (found == entries_.end()) return;
        close = found->second.close;
    }
    // On the session's executor: the session cannot end (and unregister) while this runs.
    close();
}

std::map<std::string, std::map<std::string, std::size_t>> SessionRegistry::live_by_token() const {
    std::map<std::string, std::map<std::string, std::size_t>> out;
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) ++out[entry.token_id][entry.kind];
    return out;
}

}  // namespace cloakroom::runtime
