// A WebSocket towards an upstream over HTTP/2 (RFC 8441 extended CONNECT), for either agent
// side: the stream of an upstream HTTP/2 connection as the upstream's side of the one two-way
// pump (websocket_relay.hpp's pump_websocket, the same redaction of the server's frames), and
// the check of the upstream's answer. docs/architecture.md, "WebSocket over HTTP/2".
//
// When: a WebSocket upgrade whose upstream chose ALPN "h2" and whose SETTINGS enable extended
// CONNECT (upstream_h2_exchange.hpp, forward_choosing_protocol; h2/front_end.cpp). An upstream
// that chose h2 without it is asked again over HTTP/1.1, and one that cannot speak HTTP/1.1 gets
// the agent a 502 (TlsUpstreamLeg::require_http11).
#pragma once

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/head.hpp"
#include "proxy/h2/upstream_connection.hpp"

namespace cloakroom::proxy {

// How long a closed relay leaves its upstream stream to end in order (END_STREAM both ways)
// before resetting it.
inline constexpr std::chrono::seconds kWebSocketStreamGrace{5};

// The WebSocket's bytes on an upstream HTTP/2 stream as a side of the two-way pump
// (runtime/two_way_pump.hpp). Reads take the stream's DATA and acknowledge it only when the
// next read comes (the pump wrote the previous bytes to the agent by then), so at most the
// stream's window waits here and a slow agent holds the upstream back; writes queue on the
// stream's outbox, which waits while kRequestOutboxLimit bytes wait for the upstream's window.
// The relay's end is the stream's END_STREAM after what is queued (RFC 8441 §4's orderly
// close); a stream the upstream does not end within kWebSocketStreamGrace is reset.
class UpstreamStreamSide {
  public:
    UpstreamStreamSide(std::shared_ptr<h2::UpstreamH2> connection,
                       std::shared_ptr<h2::UpstreamStream> stream)
        : connection_(std::move(connection)), stream_(std::move(stream)) {}

    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec) {
        namespace net = boost::asio;
        ec = {};
        if (at_ == pending_.size()) {
            release();
            h2::UpstreamStream& s = *stream_;
            while (s.inbox.empty() && !s.ended && !s.closed && !closed_) {
                co_await s.response_signal.wait();
            }
            if (closed_) {
                ec = net::error::operation_aborted;
                co_return 0;
            }
            if (s.inbox.empty()) {
                // END_STREAM: the upstream is done; a reset (or the connection's end) is not an
                // orderly end.
                if (s.ended) {
                    ec = net::error::eof;
                } else {
                    ec = net::error::connection_reset;
                }
                co_return 0;
            }
            pending_.swap(s.inbox);
            at_ = 0;
        }
        const std::size_t n = std::min(into.size(), pending_.size() - at_);
        std::memcpy(into.data(), pending_.data() + at_, n);
        at_ += n;
        co_return n;
    }

    boost::asio::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec) {
        ec = {};
        // A named result: GCC 12 miscompiles `if (!co_await ...)` in some coroutines.
        const bool queued = co_await connection_->write(*stream_, bytes);
        if (!queued) ec = boost::asio::error::connection_reset;
        co_return;
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        release();
        stream_->response_signal.notify();  // a read waiting for DATA ends
        if (stream_->closed) return;
        // END_STREAM once the queued bytes went out (a Close frame the agent sent last among
        // them); whatever the upstream still sends is acknowledged and dropped.
        connection_->finish_request(*stream_, {});
        stream_->abandoned = true;
        if (!stream_->inbox.empty()) {
            connection_->consumed(*stream_, stream_->inbox.size());
            stream_->inbox.clear();
        }
        boost::asio::co_spawn(stream_->executor, reset_later(connection_, stream_),
                              boost::asio::detached);
    }
    void shutdown_send() {}  // the relay ends as a whole (EndMode::Close)

  private:
    // The bytes handed to the pump are passed on: the upstream may send that much more.
    void release() {
        if (!pending_.empty()) connection_->consumed(*stream_, pending_.size());
        pending_.clear();
        at_ = 0;
    }
    static boost::asio::awaitable<void> reset_later(std::shared_ptr<h2::UpstreamH2> connection,
                                                    std::shared_ptr<h2::UpstreamStream> stream) {
        boost::asio::steady_timer timer(stream->executor, kWebSocketStreamGrace);
        boost::system::error_code ec;
        co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        if (!stream->closed) connection->cancel(*stream);
    }

    std::shared_ptr<h2::UpstreamH2> connection_;
    std::shared_ptr<h2::UpstreamStream> stream_;
    std::string pending_;  // DATA taken from the stream, not yet all read by the pump
    std::size_t at_ = 0;
    bool closed_ = false;
};

// Why a 2xx answer to an extended CONNECT cannot open the WebSocket, or nothing when it can
// (the HTTP/2 form of websocket_answer_problem: no Upgrade and no accept in HTTP/2).
inline std::optional<std::string> websocket_h2_answer_problem(const http::Head& response) {
    if (response.find("Sec-WebSocket-Extensions")) {
        return "the upstream negotiated a WebSocket extension that was not offered";
    }
    return std::nullopt;
}

}  // namespace cloakroom::proxy
