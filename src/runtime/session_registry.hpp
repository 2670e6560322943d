// The live sessions of the gateway (HTTP exchanges, database sessions; later tunnels, WebSocket
// and HTTP/2 streams), by the token that opened them, so that one can be ended from outside:
// revoking a token must also end what it already opened (docs/architecture.md, "Sessions").
// Thread-safe. A session registers when its token is known and is unregistered by the RAII
// handle when it ends; ending it posts its closer to the session's own executor, where it runs
// only if the session is still registered then (so a closer never touches a finished session).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/revocation_list.hpp"

namespace cloakroom::runtime {

class SessionRegistry : public std::enable_shared_from_this<SessionRegistry> {
  public:
    // Ends the session: runs on the session's executor (e.g. closes its sockets).
    using Closer = std::function<void()>;

    // Unregisters on destruction (on the session's executor, where it ends).
    class Registration {
      public:
        Registration(std::weak_ptr<SessionRegistry> registry, std::uint64_t id)
            : registry_(std::move(registry)), id_(id) {}
        ~Registration();
        // The session now runs on `executor` (a database session moved to a relay thread):
        // closers run there from now on, also those already posted to the old one. Call on
        // the thread the session runs on before the move, or after it.
        void move_to(boost::asio::any_io_executor executor);
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;

      private:
        std::weak_ptr<SessionRegistry> registry_;
        std::uint64_t id_;
    };

    // `kind` as in the audit ("http", "database"); `token_id` of the token that opened it and
    // its mint time (runtime::mint_time), which a `before` revocation compares.
    [[nodiscard]] std::unique_ptr<Registration> add(std::string_view kind,
                                                    std::string_view token_id,
                                                    boost::asio::any_io_executor executor,
                                                    Closer close,
                                                    std::optional<std::int64_t> minted = {});

    // Tells every live session of `token_id` to end; returns how many there were.
    std::size_t end_sessions(std::string_view token_id);
    // Tells every live session whose token `revocations` revokes to end; returns how many.
    std::size_t end_revoked(const RevocationList& revocations);

    // Live sessions, of one kind or ("") of all.
    std::size_t live(std::string_view kind = {}) const;
    // Live sessions by token id, then by kind (the admin API).
    std::map<std::string, std::map<std::string, std::size_t>> live_by_token() const;

  private:
    struct Entry {
        std::string kind;
        std::string token_id;
        boost::asio::any_io_executor executor;
        Closer close;
        std::optional<std::int64_t> minted;
        std::uint64_t moves = 0;  // bumped by each move_to: a closer posted before goes after it
    };
    // Posts the closer of each session for which `ends` is true.
    template <class Predicate>
    std::size_t end_where(Predicate ends);
    void remove(std::uint64_t id);
    void move(std::uint64_t id, boost::asio::any_io_executor executor);
    // Runs the closer of `id` if it is still registered (on its executor); posted to the
    // executor of `moves`, it follows the session if that has moved since.
    void close_if_live(std::uint64_t id, std::uint64_t moves);

    mutable std::mutex mutex_;
    std::map<std::uint64_t, Entry> entries_;
    std::uint64_t next_id_ = 1;
};

}  // namespace cloakroom::runtime
