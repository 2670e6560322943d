// Reads and writes on a plain TCP socket with the fewest system calls per message: what a relay
// that forwards small request/response messages pays per round trip (docs/architecture.md, "The
// two-way pump"). Asio's own async_read_some first tries a recv that, between messages, almost
// always fails with EAGAIN, and a send that completes at once still has its completion posted
// through the scheduler (an extra epoll_wait(0)). Here a read waits for readiness first, unless
// the previous read filled the buffer, and a write goes out at once when the socket takes it.
// The socket must be in non-blocking mode (SocketReader sets it).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string_view>

namespace cloakroom::runtime {

class SocketReader {
  public:
    explicit SocketReader(boost::asio::ip::tcp::socket& socket);

    // Some bytes (at least one), or 0 with `ec` set (eof included).
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec);

  private:
    boost::asio::ip::tcp::socket& socket_;
    bool maybe_more_ = false;  // the last read filled its buffer: read again before waiting
};

// All of `bytes`, or `ec`.
boost::asio::awaitable<void> send_all(boost::asio::ip::tcp::socket& socket, std::string_view bytes,
                                      boost::system::error_code& ec);

// A plain TCP socket as a side of the two-way pump (two_way_pump.hpp).
class SocketSide {
  public:
    explicit SocketSide(boost::asio::ip::tcp::socket& socket) : socket_(socket), reader_(socket) {}
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec) {
        return reader_.read_some(into, ec);
    }
    boost::asio::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec) {
        return send_all(socket_, bytes, ec);
    }
    void close();
    void shutdown_send();

  private:
    boost::asio::ip::tcp::socket& socket_;
    SocketReader reader_;
};

}  // namespace cloakroom::runtime
