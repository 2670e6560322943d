// One timer per connection instead of one per I/O operation. Beast's basic_stream arms and
// cancels a timer around every read and write (a timer-queue insert and removal each, several
// per request); the watchdog only records the deadline and lets one outstanding timer catch up
// with it: the timer fires at the earliest deadline ever set, and re-arms itself for the current
// one if that moved later.
//
// Semantics match basic_stream's: a deadline applies to operations in progress on the stream
// (begin()..end()); when it passes while one is in progress the socket is closed and the
// operation fails with beast::error::timeout, as does any operation begun after it passed.
// Expiry is final: a timed-out stream stays timed out.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

namespace cloakroom::proxy {

class Watchdog {
  public:
    using clock = std::chrono::steady_clock;

    // `socket` is closed on expiry; it must outlive the watchdog (both are members of a stream).
    Watchdog(const boost::asio::any_io_executor& executor, boost::asio::ip::tcp::socket& socket);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    // Operations begun from now on must finish within `timeout` (cumulative, like
    // basic_stream::expires_after).
    void expires_after(clock::duration timeout);
    void expires_never();
    // The socket has been handed to another stream: frees the timer and its state now (an idle
    // tunnel would otherwise keep them). Only the destructor may be called afterwards.
    void release();

    // Around each operation. begin() returns false when the stream has timed out (the operation
    // must then fail with beast::error::timeout without touching the socket).
    bool begin();
    void end() { --state_->in_progress; }
    bool expired() const { return state_->expired; }

  private:
    // Shared with the timer's completion handler, which may run after the stream is gone.
    struct State {
        explicit State(const boost::asio::any_io_executor& executor) : timer(executor) {}
        boost::asio::steady_timer timer;
        boost::asio::ip::tcp::socket* socket = nullptr;  // null once the stream is gone
        clock::time_point deadline = clock::time_point::max();
        clock::time_point timer_at = clock::time_point::max();  // outstanding wait, or max
        std::uint64_t generation = 0;  // of the outstanding wait; older completions are stale
        int in_progress = 0;
        bool expired = false;
    };
    static void arm(const std::shared_ptr<State>& state, clock::time_point at);
    static void fire(const std::shared_ptr<State>& state);

    std::shared_ptr<State> state_;
};

}  // namespace cloakroom::proxy
