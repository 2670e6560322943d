// A plain TCP socket as a side of the two-way pump (two_way_pump.hpp): the blind tunnel's two
// legs.
//
// Measured and left as Asio does it (bench/db/bench_db.py --syscalls, pgbench -S): reading
// after readiness (async_wait, then a non-blocking recv) instead of Asio's speculative recv
// trades the recv that fails with EAGAIN between messages for an epoll_ctl re-arm (7.62 vs 7.71
// system calls per transaction, CPU per transaction equal within noise), so the plain
// operations stay.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string_view>

namespace cloakroom::runtime {

class SocketSide {
  public:
    explicit SocketSide(boost::asio::ip::tcp::socket& socket) : socket_(socket) {}
    // Some bytes (at least one), or 0 with `ec` set (eof included).
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec);
    boost::asio::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec);
    void close();
    void shutdown_send();

  private:
    boost::asio::ip::tcp::socket& socket_;
};

}  // namespace cloakroom::runtime
