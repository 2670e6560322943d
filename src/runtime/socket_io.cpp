#include "runtime/socket_io.hpp"

#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>

namespace cloakroom::runtime {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

boost::system::error_code errno_code() {
    return {errno, boost::system::system_category()};
}

}  // namespace

std::optional<std::size_t> SocketIo::try_read(net::mutable_buffer into,
                                              boost::system::error_code& ec) {
    ec = {};
    if (!socket_.is_open()) {
        ec = net::error::bad_descriptor;
        return 0;
    }
    if (into.size() == 0) return 0;
    if (state_.eof_pending) {
        state_.eof_pending = false;
        ec = net::error::eof;
        return 0;
    }
    if (!state_.may_have_more) return std::nullopt;
    const ssize_t n = reactor_recv_detail::read_and_probe(socket_.native_handle(), into, state_);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
        ec = net::error::eof;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    ec = errno_code();
    return 0;
}

net::awaitable<std::size_t> SocketIo::read_when_ready(net::mutable_buffer into,
                                                      boost::system::error_code& ec) {
    return reactor_recv_detail::async_recv_when_ready(socket_, reactor_, into, state_,
                                                      net::redirect_error(net::use_awaitable, ec));
}

net::awaitable<std::size_t> SocketIo::read_some(net::mutable_buffer into,
                                                boost::system::error_code& ec) {
    const std::optional<std::size_t> got = try_read(into, ec);
    if (got) co_return *got;
    co_return co_await read_when_ready(into, ec);
}

std::string_view SocketIo::try_write(std::string_view bytes, boost::system::error_code& ec) {
    ec = {};
    if (!socket_.is_open()) {
        ec = net::error::bad_descriptor;
        return {};
    }
    // At once while the kernel takes the bytes; the rest through the reactor.
    while (!bytes.empty()) {
        const ssize_t n = ::send(socket_.native_handle(), bytes.data(), bytes.size(),
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        ec = errno_code();
        return {};
    }
    return bytes;
}

net::awaitable<void> SocketIo::write_all(std::string_view bytes, boost::system::error_code& ec) {
    const std::string_view rest = try_write(bytes, ec);
    if (ec || rest.empty()) co_return;
    co_await net::async_write(socket_, net::buffer(rest.data(), rest.size()),
                              net::redirect_error(net::use_awaitable, ec));
}

void SocketSide::close() {
    boost::system::error_code ignored;
    if (!socket_.is_open()) return;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

void SocketSide::shutdown_send() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace cloakroom::runtime
