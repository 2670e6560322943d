// What every protocol session shares around its own login logic: the login deadline, the
// upstream stream, the audit record, and the one way a session ends (close both sides, write
// one audit line). Protocol sessions derive from it and implement their handshake only.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "db/audit.hpp"
#include "db/session.hpp"
#include "db/stream.hpp"
#include "runtime/exchange.hpp"
#include "runtime/session_registry.hpp"

namespace cloakroom::db {

class SessionFrame {
  protected:
    SessionFrame(Session& session, std::string_view protocol);

    // Starts the login deadline on the client stream (and the upstream once dialed: watch it).
    void start_login_deadline(const net::any_io_executor& executor);
    // Closes both streams, stops the deadline and writes the audit record.
    void finish();

    void record(std::string_view decision, std::string reason);
    // After a granted login: the session is live under its token (runtime/session_registry.hpp)
    // until it ends; ending it from outside closes both streams.
    void register_live(std::string_view token_id, std::optional<std::int64_t> minted);
    // The reason for an I/O failure, naming the deadline when that is what closed the stream.
    std::string io_reason(std::string_view what) const;

    // Runs `relaying` (a coroutine not started yet that relays between s_.client and
    // *upstream_) on a relay thread when the listener has some and both legs are plaintext
    // (relay_placement.hpp): both sockets move there first, and the live-session registration
    // follows them there and back. Otherwise it runs here. Call after the login deadline ended.
    template <class T>
    net::awaitable<T> relay_placed(net::awaitable<T> relaying) {
        std::optional<RelayPlacement::Lease> lease = place_relay();
        if (!lease) co_return co_await std::move(relaying);
        const net::any_io_executor home = co_await net::this_coro::executor;
        if (live_) live_->move_to(lease->context().get_executor());
        net::awaitable<T> there = run_and_come_back(std::move(relaying), live_.get(), home);
        auto spawned = net::co_spawn(lease->context(), std::move(there), net::use_awaitable);
        T result = co_await std::move(spawned);
        co_return result;
    }

  private:
    // Moves both streams to the relay context with the fewest sessions; nullopt (nothing
    // moved) without relay threads or over TLS, or after a failed move (both streams closed:
    // the relay then ends at once, here, with the error).
    std::optional<RelayPlacement::Lease> place_relay();
    template <class T>
    static net::awaitable<T> run_and_come_back(net::awaitable<T> relaying,
                                               runtime::SessionRegistry::Registration* live,
                                               net::any_io_executor home) {
        // However the relay ends (also destroyed unfinished at shutdown), closers go home.
        struct ComeBack {
            runtime::SessionRegistry::Registration* live;
            net::any_io_executor home;
            ~ComeBack() {
                if (live != nullptr) live->move_to(home);
            }
        } back{live, home};
        T result = co_await std::move(relaying);
        co_return result;
    }

  protected:
    Session& s_;
    // The session's exchange: its record is written once, by finish() or, should the session
    // end any other way, by the exchange's destructor.
    runtime::Exchange exchange_;
    DbAuditRecord& audit_ = exchange_.record();
    std::optional<DbStream> upstream_;
    std::optional<Deadline> deadline_;  // after upstream_: destroyed first
    std::unique_ptr<runtime::SessionRegistry::Registration> live_;  // destroyed before streams
};

}  // namespace cloakroom::db
