#include "runtime/session_registry.hpp"

#include <boost/asio/post.hpp>
#include <vector>

namespace cloakroom::runtime {

SessionRegistry::Registration::~Registration() {
    if (auto registry = registry_.lock()) registry->remove(id_);
}

void SessionRegistry::Registration::move_to(boost::asio::any_io_executor executor) {
    if (auto registry = registry_.lock()) registry->move(id_, std::move(executor));
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
    struct Target {
        std::uint64_t id;
        std::uint64_t moves;
        boost::asio::any_io_executor executor;
    };
    std::vector<Target> targets;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_) {
            if (ends(entry)) targets.push_back({id, entry.moves, entry.executor});
        }
    }
    // The closer runs where the session runs; by then the session may have ended on its own,
    // which close_if_live checks under the lock.
    for (auto& target : targets) {
        boost::asio::post(target.executor,
                          [self = shared_from_this(), id = target.id, moves = target.moves] {
                              self->close_if_live(id, moves);
                          });
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

void SessionRegistry::move(std::uint64_t id, boost::asio::any_io_executor executor) {
    std::lock_guard lock(mutex_);
    auto found = entries_.find(id);
    if (found == entries_.end()) return;
    found->second.executor = std::move(executor);
    ++found->second.moves;
}

void SessionRegistry::close_if_live(std::uint64_t id, std::uint64_t moves) {
    Closer close;
    {
        std::unique_lock lock(mutex_);
        auto found = entries_.find(id);
        if (found == entries_.end()) return;
        if (found->second.moves != moves) {
            // Posted to where the session ran before it moved: follow it.
            boost::asio::any_io_executor executor = found->second.executor;
            const std::uint64_t now = found->second.moves;
            lock.unlock();
            boost::asio::post(
                executor, [self = shared_from_this(), id, now] { self->close_if_live(id, now); });
            return;
        }
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
