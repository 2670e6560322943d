// Reading and writing a plain TCP socket with the fewest system calls per message (SocketIo),
// and a plain TCP socket as a side of the two-way pump (SocketSide, two_way_pump.hpp): the blind
// tunnel's two legs. db::DbStream uses SocketIo for its plaintext legs.
//
// Per message Asio's own operations cost recv (data), send, an epoll_wait(0) (a send that
// completes at once still posts its completion through the scheduler, whose next turn polls the
// reactor first), a recv that fails with EAGAIN (Boost 1.74 retries a read speculatively after
// every short read) and the epoll_wait that blocks. SocketIo sends at once with a non-blocking
// send and waits for the reactor only when that would block; it reads again at once only when
// the last read may have left data, and otherwise waits for readiness with reactor_recv.hpp's
// operation, which costs no system call of its own (each read also probes whether the socket is
// now empty or at its end, in the same system call). Measured with bench/db/run --syscalls
// (docs/architecture.md, "The two-way pump").
//
// The two-way pump calls try_read / try_write first and co_awaits only when the socket must be
// waited for (read_when_ready, write_all): a send that completes at once, or a read of bytes
// already queued, then costs no coroutine frame (each costs a heap allocation and a resumption),
// which is most of the relay's own CPU per message after the system calls.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <optional>
#include <string_view>

#include "runtime/reactor_recv.hpp"

namespace cloakroom::runtime {

class SocketIo {
  public:
    explicit SocketIo(boost::asio::ip::tcp::socket& socket)
        : socket_(socket), reactor_(reactor_recv_detail::reactor_of(socket)) {}
    // Some bytes (at least one), or 0 with `ec` set (eof included).
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec);
    boost::asio::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec);

    // Without waiting: some bytes, or 0 with `ec` set (eof included), or nullopt when the
    // socket has to be waited for (then read_when_ready, with the same buffer).
    std::optional<std::size_t> try_read(boost::asio::mutable_buffer into,
                                        boost::system::error_code& ec);
    // Waits for readiness and reads (no coroutine frame of its own); as read_some.
    boost::asio::awaitable<std::size_t> read_when_ready(boost::asio::mutable_buffer into,
                                                        boost::system::error_code& ec);
    // Sends what the kernel takes at once; returns the bytes left for write_all (empty: all
    // sent, or `ec` set).
    std::string_view try_write(std::string_view bytes, boost::system::error_code& ec);

  private:
    boost::asio::ip::tcp::socket& socket_;
    boost::asio::detail::reactor& reactor_;
    // Whether the last read left data waiting (read again at once) or proved the socket empty
    // (wait for readiness), or saw the end of the stream behind its bytes.
    reactor_recv_detail::ReadState state_;
};

class SocketSide {
  public:
    explicit SocketSide(boost::asio::ip::tcp::socket& socket) : socket_(socket), io_(socket) {}
    // Some bytes (at least one), or 0 with `ec` set (eof included).
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec) {
        return io_.read_some(into, ec);
    }
    boost::asio::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec) {
        return io_.write_all(bytes, ec);
    }
    std::optional<std::size_t> try_read(boost::asio::mutable_buffer into,
                                        boost::system::error_code& ec) {
        return io_.try_read(into, ec);
    }
    boost::asio::awaitable<std::size_t> read_when_ready(boost::asio::mutable_buffer into,
                                                        boost::system::error_code& ec) {
        return io_.read_when_ready(into, ec);
    }
    std::string_view try_write(std::string_view bytes, boost::system::error_code& ec) {
        return io_.try_write(bytes, ec);
    }
    void close();
    void shutdown_send();

  private:
    boost::asio::ip::tcp::socket& socket_;
    SocketIo io_;
};

}  // namespace cloakroom::runtime
