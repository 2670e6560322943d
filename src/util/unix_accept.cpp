#include "util/unix_accept.hpp"

#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>

namespace cloakroom {
namespace net = boost::asio;
using Descriptor = net::posix::stream_descriptor;

net::awaitable<UniqueFd> accept_unix(std::unique_ptr<Descriptor>& listener) {
    for (;;) {
        boost::system::error_code ec;
        if (!listener) co_return UniqueFd();
        co_await listener->async_wait(Descriptor::wait_read,
                                      net::redirect_error(net::use_awaitable, ec));
        if (ec || !listener) co_return UniqueFd();
        UniqueFd connection(::accept4(listener->native_handle(), nullptr, nullptr, SOCK_CLOEXEC));
        if (connection) co_return connection;
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
        net::steady_timer pause(co_await net::this_coro::executor);
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
}

}  // namespace cloakroom
