// An upstream connection that speaks HTTP/2 (the upstream chose ALPN "h2"): one nghttp2 client
// session (client_session.hpp) on a verified TLS connection, one reader and one writer
// coroutine, and many streams at once, each one request of some exchange (docs/architecture.md,
// "HTTP/2"). Pooled per worker by the same key as HTTP/1.1 connections (UpstreamH2Pool): a
// request takes a connection with a free stream slot (the upstream's
// SETTINGS_MAX_CONCURRENT_STREAMS), and a connection that died or got GOAWAY takes no new one.
//
// Bounded buffers both ways: a request body waits while kRequestOutboxLimit bytes wait for the
// upstream's window; response bytes are acknowledged only when the exchange took them
// (consumed()), so the upstream's window bounds what waits per stream.
//
// A stream the upstream refused unprocessed (RST_STREAM REFUSED_STREAM, or a stream above the
// last stream id of its GOAWAY: RFC 9113 §8.7) may go once more on another connection, even a
// POST, when no response byte reached the agent and the request body sent so far is still held
// (ReplayableBody, at most kRequestReplayLimit bytes): missing_head_outcome() decides.
#pragma once

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/head_validator.hpp"
#include "proxy/h2/client_session.hpp"
#include "proxy/h2/codec.hpp"
#include "proxy/h2/signal.hpp"
#include "proxy/h2/stream_limit.hpp"
#include "proxy/upstream.hpp"
#include "runtime/refusal.hpp"

namespace cloakroom::proxy::h2 {

inline constexpr std::size_t kRequestOutboxLimit = 64 * 1024;
// The request body bytes kept to send again after a refused stream; beyond, it is not retried.
inline constexpr std::size_t kRequestReplayLimit = 64 * 1024;
// How many times a refused stream's request is sent again (each time on another connection).
inline constexpr int kRefusedStreamRetries = 1;

using FieldList = std::vector<std::pair<std::string, std::string>>;

// A stream's request body on its way upstream: appended by the exchange, taken by nghttp2 as
// the upstream's window allows. After keep_sent() it also keeps what went out, while the whole
// body fits kRequestReplayLimit, so that a stream refused unprocessed can be sent again whole:
// the bytes are already here, which spares every request body a copy made only for that rare
// retry.
class RequestOutbox {
  public:
    // From the first byte on, sent bytes stay (call before anything is appended). `expected`:
    // the body's size if known, reserved up front (within the limit) so that the kept bytes
    // are not copied again as the buffer grows.
    void keep_sent(std::uint64_t expected = 0) {
        keeping_ = data_.empty();
        if (keeping_ && expected > 0 && expected <= kRequestReplayLimit) {
            data_.reserve(static_cast<std::size_t>(expected));
        }
    }
    std::size_t unsent() const { return data_.size() - begin_; }
    bool all_sent() const { return begin_ == data_.size(); }
    // Every byte ever appended is still here (kept since keep_sent(), within the limit).
    bool holds_whole_body() const { return keeping_; }

    void append(std::string_view bytes) {
        if (keeping_ && data_.size() + bytes.size() > kRequestReplayLimit) {
            keeping_ = false;  // too large to send again: the sent bytes may go
        }
        if (!keeping_ && begin_ > 0) {
            data_.erase(0, begin_);
            begin_ = 0;
        }
        data_.append(bytes);
    }
    // Copies up to `length` unsent bytes to `out`; the number copied.
    std::size_t take(std::uint8_t* out, std::size_t length) {
        const std::size_t n = std::min(unsent(), length);
        std::memcpy(out, data_.data() + begin_, n);
        begin_ += n;
        if (begin_ == data_.size() && !keeping_) {
            data_.clear();
            begin_ = 0;
        }
        return n;
    }
    // The whole body (holds_whole_body()), moved out; the outbox is empty after.
    std::string release_body() {
        std::string body = keeping_ ? std::move(data_) : std::string();
        data_.clear();
        begin_ = 0;
        keeping_ = false;
        return body;
    }

  private:
    std::string data_;
    std::size_t begin_ = 0;  // data_ before it went out
    bool keeping_ = false;
};

// One request on an upstream HTTP/2 connection, shared by the exchange and the connection.
struct UpstreamStream {
    explicit UpstreamStream(const boost::asio::any_io_executor& io)
        : executor(io), request_signal(io), response_signal(io) {}

    boost::asio::any_io_executor executor;  // the connection's

    std::int32_t id = 0;
    // The request body, waiting for the upstream's window.
    RequestOutbox outbox;
    bool out_end = false;   // the body's end is in the outbox
    bool deferred = false;  // nghttp2 waits for resume()
    HeaderList trailers;
    bool has_trailers = false;
    bool abandoned = false;  // the exchange is gone: response bytes are dropped

    // The response.
    FieldList head;  // ":status" and the fields of the final head, once head_ready
    unsigned status = 0;
    bool head_ready = false;
    std::size_t head_bytes = 0;
    bool too_large = false;  // a header block beyond the gateway's head limits
    FieldList response_trailers;
    std::string inbox;    // response body not yet taken (bounded by the stream's window)
    bool ended = false;   // the upstream ended its side of the stream
    bool closed = false;  // the stream is gone (done, reset, or the connection died)
    std::uint32_t error_code = 0;

    // The upstream did not process the request (RFC 9113 §8.7): reset with REFUSED_STREAM, or
    // above the last stream id of its GOAWAY, before any response head.
    bool refused() const { return closed && !head_ready && error_code == NGHTTP2_REFUSED_STREAM; }

    Signal request_signal;   // room in the outbox, or the stream closed
    Signal response_signal;  // response head, bytes, end or close
};

class UpstreamH2 final : public ClientHandler, public std::enable_shared_from_this<UpstreamH2> {
  public:
    // `connection` negotiated "h2". Idle (no stream) for `max_idle`, the connection ends.
    UpstreamH2(std::unique_ptr<UpstreamConnection> connection, const http::HeadLimits& limits,
               std::chrono::seconds max_idle);
    // Starts the reader and the writer; call once, right after construction.
    void start();

    const std::string& key() const { return connection_->key; }
    bool alive() const { return !dead_; }
    // The upstream said GOAWAY (or the connection is closing): its stream limit is old news.
    bool going_away() const { return goaway_; }
    // Alive, no GOAWAY, and a stream slot free.
    bool usable() const;
    // The upstream's SETTINGS_MAX_CONCURRENT_STREAMS on this connection; until its SETTINGS
    // arrive, what the worker learned of the upstream (share_limit), else 100.
    std::uint32_t stream_limit() const;
    // Bytes the upstream sent, for the session; false when the connection is over (read_loop).
    bool receive(std::string_view bytes);
    // Waits until the upstream's first SETTINGS arrived (true), the connection ended or
    // `timeout` passed (false).
    boost::asio::awaitable<bool> wait_settings(std::chrono::seconds timeout);
    // The upstream's SETTINGS enable RFC 8441 extended CONNECT (WebSocket over a stream).
    bool connect_protocol() const { return settings_seen_ && session_.connect_protocol(); }

    // A new stream for `head`; null when the connection cannot take one.
    std::shared_ptr<UpstreamStream> open(const HeaderList& head, bool has_body);
    // Queues request body bytes, first waiting while the outbox is full; false when the stream
    // is gone.
    boost::asio::awaitable<bool> write(UpstreamStream& stream, std::string_view data);
    // The request body ended, with `trailers` (may be empty).
    void finish_request(UpstreamStream& stream, const FieldList& trailers);
    // Waits for the final response head; false when the stream ended without one or `timeout`
    // passed (`timed_out`).
    boost::asio::awaitable<bool> wait_head(UpstreamStream& stream, std::chrono::seconds timeout,
                                           bool& timed_out);
    // The next response body bytes, swapped into `piece` (empty and `done` at the end); `ec`
    // set when the stream was reset or went idle for `idle`. Call consumed() with the piece's
    // size once it was passed on.
    boost::asio::awaitable<void> read_body(UpstreamStream& stream, std::string& piece, bool& done,
                                           boost::system::error_code& ec,
                                           std::chrono::seconds idle);
    void consumed(UpstreamStream& stream, std::size_t n);
    // Resets the stream (CANCEL) unless it is closed; its response bytes are dropped.
    void cancel(UpstreamStream& stream);

    // ClientHandler
    void on_field(std::int32_t id, std::string_view name, std::string_view value) override;
    void on_headers_end(std::int32_t id, bool end_stream) override;
    void on_data(std::int32_t id, std::string_view data) override;
    void on_end(std::int32_t id) override;
    void on_stream_close(std::int32_t id, std::uint32_t error_code) override;
    void on_goaway(std::int32_t last_stream_id) override;
    // Every SETTINGS frame (the first and each update): the limit goes to the shared record.
    void on_settings() override;
    // What the worker knows of this upstream's stream limit (the pool's record for its key):
    // this connection takes no more streams until its own SETTINGS arrive (streams past the
    // real limit would be refused), and records what its SETTINGS say.
    void share_limit(std::shared_ptr<LearnedStreamLimit> learned);
    long read_request(std::int32_t id, std::uint8_t* out, std::size_t length, bool& eof,
                      bool& trailers) override;

  private:
    boost::asio::awaitable<void> write_loop(std::shared_ptr<UpstreamH2> self);
    boost::asio::awaitable<void> read_loop(std::shared_ptr<UpstreamH2> self);
    // The connection is over: every stream closed, the other loop woken.
    void die();
    UpstreamStream* find(std::int32_t id) {
        const auto it = streams_.find(id);
        return it == streams_.end() ? nullptr : it->second.get();
    }

    std::unique_ptr<UpstreamConnection> connection_;
    const http::HeadLimits& limits_;
    std::chrono::seconds max_idle_;
    boost::asio::any_io_executor executor_;
    ClientSession session_;
    std::map<std::int32_t, std::shared_ptr<UpstreamStream>> streams_;
    Signal writer_;
    bool dead_ = false;
    bool goaway_ = false;
    // The last stream id of the upstream's GOAWAY: streams above it were not processed.
    std::int32_t goaway_last_ = 0x7fffffff;
    bool settings_seen_ = false;
    std::shared_ptr<LearnedStreamLimit> learned_;
    std::vector<boost::asio::steady_timer*> settings_waiters_;  // cancelled at SETTINGS or death
};

// The HTTP/2 upstream connections of one worker, by pool key (upstream.hpp's write_pool_key).
// A burst of requests to an upstream known to speak HTTP/2 shares the connections being dialed
// (as many requests per dial as the upstream's stream limit) instead of dialing one each.
class UpstreamH2Pool {
  public:
    // A dial in progress that requests may wait for.
    struct PendingDial {
        explicit PendingDial(const boost::asio::any_io_executor& executor) : timer(executor) {}
        boost::asio::steady_timer timer;  // cancelled when the dial is over
        std::size_t riders = 1;           // the dialing request and those waiting for it
        bool done = false;
    };

    // A live connection with a free stream slot other than `avoid` (a connection that refused a
    // stream: the retry goes elsewhere), or null. Dead connections are dropped here.
    std::shared_ptr<UpstreamH2> find(std::string_view key, const UpstreamH2* avoid = nullptr);
    void add(std::shared_ptr<UpstreamH2> connection);
    std::size_t count(std::string_view key) const;
    // What the worker learned of the upstream's stream limit, or null (no HTTP/2 dial yet).
    const LearnedStreamLimit* learned_limit(std::string_view key) const;

    // A dial in progress to an upstream known to speak HTTP/2 with room for one more request
    // (counted), or null.
    std::shared_ptr<PendingDial> join_dial(std::string_view key);
    // Registers the caller's dial; end_dial() when it is over (whatever the upstream chose).
    std::shared_ptr<PendingDial> start_dial(const std::string& key,
                                            const boost::asio::any_io_executor& executor);
    // `h2`: whether the upstream chose HTTP/2 (later bursts wait for dials only if it did).
    void end_dial(const std::string& key, const std::shared_ptr<PendingDial>& dial, bool h2);

  private:
    std::shared_ptr<LearnedStreamLimit> learned(std::string_view key);

    std::map<std::string, std::vector<std::shared_ptr<UpstreamH2>>, std::less<>> by_key_;
    std::map<std::string, std::vector<std::shared_ptr<PendingDial>>, std::less<>> dialing_;
    // Per upstream: the stream limit its connections' SETTINGS said last, shared with them
    // (they write it as SETTINGS arrive), and whether its last dial chose HTTP/2. Kept when the
    // connections are gone.
    std::map<std::string, std::shared_ptr<LearnedStreamLimit>, std::less<>> learned_;
};

// Waits until `dial` is over.
boost::asio::awaitable<void> wait_for_dial(std::shared_ptr<UpstreamH2Pool::PendingDial> dial);

// The request body of a stream refused unprocessed, to send again on the next one: taken from
// the refused stream's outbox, which kept it (RequestOutbox::keep_sent), when
// missing_head_outcome() allowed the retry.
class ReplayableBody {
  public:
    void take(UpstreamStream& refused) { held_ = refused.outbox.release_body(); }
    // The body's end went upstream too (finish_request): a replay ends the body after held().
    void mark_complete() { complete_ = true; }
    bool complete() const { return complete_; }
    const std::string& held() const { return held_; }

  private:
    std::string held_;
    bool complete_ = false;
};

// Why `stream` has no response head (wait_head returned false) as the refusal to answer, or
// nullopt when the request is to be sent once more on another connection: the upstream refused
// the stream unprocessed, `body_replayable`, and fewer than kRefusedStreamRetries retries were
// made. The caller has sent no response byte to the agent.
std::optional<runtime::Refusal> missing_head_outcome(const UpstreamStream& stream, bool timed_out,
                                                     bool body_replayable, int retries_done);

// The audit reason of an exchange answered after `retries` refused streams.
std::string retried_reason(const std::string& reason, int retries);

// The upstream head of an exchange as an HTTP/2 header list: the pseudo-headers from the
// request line and Host, then the fields without the connection-specific ones; `te: trailers`
// when the agent asked for it (gRPC servers require it; it is hop-by-hop in HTTP/1.1, so the
// plan removed it).
HeaderList request_header_list(const http::Head& request, bool te_trailers);

// The upstream head of a WebSocket opening handshake (an upgrade the plan allowed and injected)
// as the RFC 8441 extended CONNECT it stands for over HTTP/2: `:method CONNECT`,
// `:protocol websocket`, the path and authority, and the fields without the HTTP/1.1
// handshake's own (Upgrade, Connection, Sec-WebSocket-Key: HTTP/2 has no key, §5).
HeaderList websocket_connect_header_list(const http::Head& request);

// An HTTP/2 response head as the HTTP/1.1 response head text the pipeline parses and redacts,
// written to `out` and validated like a head read off an HTTP/1.1 upstream; or why it cannot be.
std::optional<std::string> response_head_text(unsigned status, const FieldList& fields,
                                              const http::HeadLimits& limits, std::string& out);

// Trailers an HTTP/1.1 or HTTP/2 peer may receive: the fields that frame or route a message
// (content-length, transfer-encoding, host, ...) and pseudo-headers left out.
FieldList forwardable_trailers(const FieldList& fields);

}  // namespace cloakroom::proxy::h2
