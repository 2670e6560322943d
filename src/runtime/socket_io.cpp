#include "runtime/socket_io.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace cloakroom::runtime {
namespace net = boost::asio;
using tcp = net::ip::tcp;

net::awaitable<std::size_t> SocketSide::read_some(net::mutable_buffer into,
                                                  boost::system::error_code& ec) {
    ec = {};
    co_return co_await socket_.async_read_some(into, net::redirect_error(net::use_awaitable, ec));
}

net::awaitable<void> SocketSide::write_all(std::string_view bytes, boost::system::error_code& ec) {
    ec = {};
    co_await net::async_write(socket_, net::buffer(bytes.data(), bytes.size()),
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
