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

#include "proxy/watchdog.hpp"

namespace cloakroom::proxy {

class PlainStream {
  public:
    using executor_type = boost::asio::any_io_executor;

    explicit PlainStream(boost::asio::ip::tcp::socket socket)
        : socket_(std::move(socket)), watchdog_(socket_.get_executor(), socket_) {}
    PlainStream(const PlainStream&) = delete;
    PlainStream& operator=(const PlainStream&) = delete;

    boost::asio::ip::tcp::socket& socket() { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }
    void expires_after(Watchdog::clock::duration timeout) { watchdog_.expires_after(timeout); }
    void expires_never() { watchdog_.expires_never(); }
    // The socket, for a stream type of its own. The stream must not be used afterwards.
    boost::asio::ip::tcp::socket release_socket() {
        watchdog_.release();
        return std::move(socket_);
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
    // The socket operation inside Watchdog::begin()/end(); Asio's socket operations never
    // complete inside the initiating call, so only the refusal after a timeout is posted.
    template <class Buffers, bool IsRead>
    struct Operation {
        PlainStream& stream;
        Buffers buffers;
        enum class Phase { Start, Running, Deliver } phase = Phase::Start;

        template <class Self>
        void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
            switch (phase) {
                case Phase::Start:
                    if (!stream.watchdog_.begin()) {
                        phase = Phase::Deliver;
                        boost::asio::post(std::move(self));
                        return;
                    }
                    phase = Phase::Running;
                    if constexpr (IsRead) {
                        stream.socket_.async_read_some(buffers, std::move(self));
                    } else {
                        stream.socket_.async_write_some(buffers, std::move(self));
                    }
                    return;
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
};

}  // namespace cloakroom::proxy
