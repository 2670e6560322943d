// A TCP socket with a Watchdog: the agent side of the reverse listener and of a forward-proxy
// connection before CONNECT. Like beast::tcp_stream (expires_after, timeout = beast::error::
// timeout) without its per-operation timers. Tunnels and plain upstreams keep beast::tcp_stream
// (release_socket() hands the socket over).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <optional>
#include <utility>

#include "proxy/watchdog.hpp"

namespace cloakroom::proxy {

class PlainStream {
  public:
    using executor_type = boost::asio::any_io_executor;

    explicit PlainStream(boost::asio::ip::tcp::socket socket)
        : socket_(std::move(socket)), watchdog_(socket_.get_executor(), socket_) {
        // For read_some_now / write_some_now; Asio's own operations work either way.
        boost::system::error_code ignored;
        socket_.non_blocking(true, ignored);
    }
    PlainStream(const PlainStream&) = delete;
    PlainStream& operator=(const PlainStream&) = delete;

    boost::asio::ip::tcp::socket& socket() { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }
    void expires_after(Watchdog::clock::duration timeout) { watchdog_.expires_after(timeout); }
    void expires_never() { watchdog_.expires_never(); }
    // The socket, for a stream type of its own. The stream must not be used afterwards.
    boost::asio::ip::tcp::socket release_socket() {
        watchdog_.release();
        boost::system::error_code ignored;
        socket_.non_blocking(false, ignored);
        return std::move(socket_);
    }

    // One attempt without the event loop (io_now.hpp): the bytes moved (0 with `ec` on failure,
    // eof included), or nothing when it would block. After a read that would block, the next
    // async_read_some waits for readiness before reading.
    std::optional<std::size_t> read_some_now(boost::asio::mutable_buffer buffer,
                                             boost::system::error_code& ec) {
        read_waits_first_ = false;
        if (refused_after_timeout(ec)) return 0;
        const std::size_t n = socket_.read_some(buffer, ec);
        if (would_block(ec)) {
            ec = {};
            read_waits_first_ = true;
            return std::nullopt;
        }
        return n;
    }

    template <class ConstBufferSequence>
    std::optional<std::size_t> write_some_now(const ConstBufferSequence& buffers,
                                              boost::system::error_code& ec) {
        if (refused_after_timeout(ec)) return 0;
        const std::size_t n = socket_.write_some(buffers, ec);
        if (would_block(ec)) {
            ec = {};
            return std::nullopt;
        }
        return n;
    }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            Operation<MutableBufferSequence, true>{*this, buffers}, token);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            Operation<ConstBufferSequence, false>{*this, buffers}, token);
    }

  private:
    static bool would_block(const boost::system::error_code& ec) {
        return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
    }
    // An inline operation on a timed-out stream fails as an async one would.
    bool refused_after_timeout(boost::system::error_code& ec) const {
        if (!watchdog_.expired()) return false;
        ec = boost::beast::error::timeout;
        return true;
    }

    // The socket operation inside Watchdog::begin()/end(); Asio's socket operations never
    // complete inside the initiating call, so only the refusal after a timeout is posted.
    template <class Buffers, bool IsRead>
    struct Operation {
        PlainStream& stream;
        Buffers buffers;
        enum class Phase { Start, Waited, Running, Deliver } phase = Phase::Start;

        template <class Self>
        void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
            switch (phase) {
                case Phase::Start:
                    if (!stream.watchdog_.begin()) {
                        stream.read_waits_first_ = false;
                        phase = Phase::Deliver;
                        boost::asio::post(std::move(self));
                        return;
                    }
                    if constexpr (IsRead) {
                        if (std::exchange(stream.read_waits_first_, false)) {
                            phase = Phase::Waited;
                            stream.socket_.async_wait(boost::asio::socket_base::wait_read,
                                                      std::move(self));
                            return;
                        }
                    }
                    stream.read_waits_first_ = false;
                    phase = Phase::Running;
                    if constexpr (IsRead) {
                        stream.socket_.async_read_some(buffers, std::move(self));
                    } else {
                        stream.socket_.async_write_some(buffers, std::move(self));
                    }
                    return;
                case Phase::Waited:
                    if constexpr (IsRead) {
                        // Readable (or failed, or timed out): the read itself, which completes
                        // at once now (and through this handler, not inside an initiation).
                        if (!ec && !stream.watchdog_.expired()) {
                            n = stream.socket_.read_some(buffers, ec);
                            if (would_block(ec)) {
                                stream.socket_.async_wait(boost::asio::socket_base::wait_read,
                                                          std::move(self));
                                return;
                            }
                        }
                    }
                    [[fallthrough]];
                case Phase::Running:
                    stream.watchdog_.end();
                    if (stream.watchdog_.expired()) ec = boost::beast::error::timeout;
                    self.complete(ec, n);
                    return;
                case Phase::Deliver:
                    self.complete(boost::beast::error::timeout, 0);
                    return;
            }
        }
    };

    boost::asio::ip::tcp::socket socket_;
    Watchdog watchdog_;
    bool read_waits_first_ = false;
};

}  // namespace cloakroom::proxy
