#include "proxy/tunnel.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;

namespace {

net::awaitable<void> pump(beast::tcp_stream& from, beast::tcp_stream& to, std::uint64_t& count,
                          std::chrono::seconds idle_timeout) {
    char buffer[16384];
    beast::error_code ec;
    for (;;) {
        from.expires_after(idle_timeout);
        const std::size_t n = co_await from.async_read_some(
            net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        to.expires_after(idle_timeout);
        co_await net::async_write(to, net::buffer(buffer, n),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        count += n;
    }
    // Half-close so the other side sees EOF; the other pump ends on its own.
    to.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace

net::awaitable<TunnelBytes> relay_tunnel(beast::tcp_stream& client, beast::flat_buffer& pending,
                                         beast::tcp_stream& upstream,
                                         std::chrono::seconds idle_timeout) {
    TunnelBytes bytes;
    beast::error_code ec;
    if (pending.size() > 0) {
        co_await net::async_write(upstream, pending.data(),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return bytes;
        bytes.client_to_upstream += pending.size();
        pending.consume(pending.size());
    }
    // Two pumps, one per direction; this coroutine returns only after both ended, so the
    // streams they reference outlive them. (Boost 1.74 has no awaitable operators.)
    auto executor = co_await net::this_coro::executor;
    net::steady_timer upstream_pump_done(executor, net::steady_timer::time_point::max());
    bool finished = false;
    net::co_spawn(executor, pump(client, upstream, bytes.client_to_upstream, idle_timeout),
                  [&](std::exception_ptr) {
                      finished = true;
                      upstream_pump_done.cancel();
                  });
    co_await pump(upstream, client, bytes.upstream_to_client, idle_timeout);
    while (!finished) {
        co_await upstream_pump_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    co_return bytes;
}

}  // namespace cloakroom::proxy
