// Where a logged-in database session relays (docs/databases.md, "Threads"). Logins run on the
// worker thread that accepted the connection: they are CPU-heavy (SCRAM, TLS handshakes, token
// checks) and must not queue behind each other or behind relay traffic. Relaying is the
// opposite: many sessions each moving small messages cost least when they share one thread,
// whose one epoll_wait returns the events of many sessions (with sessions spread over every
// worker, each worker sleeps and wakes per message: more context switches and cache traffic).
// So a plaintext session's two sockets move, after the login, to a relay thread of their own;
// this class picks which (the one with the fewest sessions relaying) and counts sessions there.
// TLS legs stay where they were: an Asio ssl::stream is tied to its io_context.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace cloakroom::db {

class RelayPlacement {
  public:
    // `contexts` are run by the caller's threads and outlive every lease.
    explicit RelayPlacement(std::vector<boost::asio::io_context*> contexts);

    // One session relaying on one context, counted until the lease ends.
    class Lease {
      public:
        Lease(std::shared_ptr<RelayPlacement> placement, std::size_t index);
        ~Lease();
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        boost::asio::io_context& context() const;
        std::size_t index() const { return index_; }

      private:
        std::shared_ptr<RelayPlacement> placement_;  // null once moved from
        std::size_t index_;
    };

    // The context with the fewest sessions relaying (the lowest index among equals); nullopt
    // when there are no relay contexts (relay where the login ran).
    static std::optional<Lease> take(const std::shared_ptr<RelayPlacement>& placement);

    // Sessions relaying on context `index` now.
    std::size_t load(std::size_t index) const;
    std::size_t size() const { return contexts_.size(); }

  private:
    std::vector<boost::asio::io_context*> contexts_;
    std::unique_ptr<std::atomic<std::size_t>[]> sessions_;
};

}  // namespace cloakroom::db
