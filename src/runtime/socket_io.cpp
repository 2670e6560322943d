#include "runtime/socket_io.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cloakroom::runtime {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

bool would_block(const boost::system::error_code& ec) {
    return ec == net::error::would_block || ec == net::error::try_again;
}

}  // namespace

SocketReader::SocketReader(tcp::socket& socket) : socket_(socket) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
}

net::awaitable<std::size_t> SocketReader::read_some(net::mutable_buffer into,
                                                    boost::system::error_code& ec) {
    ec = {};
    if (into.size() == 0) co_return 0;
    for (;;) {
        if (!maybe_more_) {
            co_await socket_.async_wait(tcp::socket::wait_read,
                                        net::redirect_error(net::use_awaitable, ec));
            if (ec) co_return 0;
        }
        const std::size_t n = socket_.read_some(into, ec);
        if (would_block(ec)) {
            // Readiness was spurious, or the buffer was drained exactly: wait.
            ec = {};
            maybe_more_ = false;
            continue;
        }
        maybe_more_ = !ec && n == into.size();
        co_return n;
    }
}

net::awaitable<void> send_all(tcp::socket& socket, std::string_view bytes,
                              boost::system::error_code& ec) {
    ec = {};
    while (!bytes.empty()) {
        const std::size_t n = socket.write_some(net::buffer(bytes.data(), bytes.size()), ec);
        if (would_block(ec)) {
            ec = {};
            co_await socket.async_wait(tcp::socket::wait_write,
                                       net::redirect_error(net::use_awaitable, ec));
            if (ec) co_return;
            continue;
        }
        if (ec) co_return;
        bytes.remove_prefix(n);
    }
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
