// A wake-up for one waiting coroutine on a single-threaded executor; a notify() before the wait
// is not lost. Used by the HTTP/2 front end and the upstream HTTP/2 connection, whose streams
// wait for frames that another coroutine (the connection's reader or writer) handles.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace cloakroom::proxy::h2 {

class Signal {
  public:
    using Clock = boost::asio::steady_timer::clock_type;

    explicit Signal(const boost::asio::any_io_executor& executor) : timer_(executor) {}
    void notify() {
        pending_ = true;
        timer_.cancel();
    }
    boost::asio::awaitable<void> wait() { co_await wait_until(Clock::time_point::max()); }
    // Returns false when the deadline passed without a notify().
    boost::asio::awaitable<bool> wait_until(Clock::time_point deadline) {
        namespace net = boost::asio;
        if (!pending_) {
            timer_.expires_at(deadline);
            boost::system::error_code ec;
            co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
        const bool notified = pending_;
        pending_ = false;
        co_return notified;
    }

  private:
    boost::asio::steady_timer timer_;
    bool pending_ = false;
};

}  // namespace cloakroom::proxy::h2
