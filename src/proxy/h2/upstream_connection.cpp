#include "proxy/h2/upstream_connection.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cstring>

#include "http/hop_by_hop.hpp"
#include "proxy/buffer_pool.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy::h2 {
namespace net = boost::asio;

UpstreamH2::UpstreamH2(std::unique_ptr<UpstreamConnection> connection,
                       const http::HeadLimits& limits, std::chrono::seconds max_idle)
    : connection_(std::move(connection)),
      limits_(limits),
      max_idle_(max_idle),
      executor_(connection_->stream.get_executor()),
      session_(*this, limits),
      writer_(executor_) {}

void UpstreamH2::start() {
    if (!session_.ok()) {
        dead_ = true;
        return;
    }
    // Idle time is this connection's own business (write_loop); each stream has its timeouts.
    connection_->stream.expires_never();
    net::co_spawn(executor_, read_loop(shared_from_this()), net::detached);
    net::co_spawn(executor_, write_loop(shared_from_this()), net::detached);
}

std::uint32_t UpstreamH2::stream_limit() const {
    return effective_stream_limit(settings_seen_, session_.max_concurrent_streams(),
                                  learned_.get());
}

void UpstreamH2::on_settings() {
    // nghttp2 applied the frame's settings before this callback.
    settings_seen_ = true;
    if (learned_) learned_->learn(session_.max_concurrent_streams(), goaway_);
    for (auto* timer : settings_waiters_) timer->cancel();
}

void UpstreamH2::share_limit(std::shared_ptr<LearnedStreamLimit> learned) {
    learned_ = std::move(learned);
    if (settings_seen_ && learned_) learned_->learn(session_.max_concurrent_streams(), goaway_);
}

bool UpstreamH2::receive(std::string_view bytes) {
    const bool go_on = session_.receive(bytes);
    writer_.notify();
    return go_on;
}

net::awaitable<bool> UpstreamH2::wait_settings(std::chrono::seconds timeout) {
    if (!settings_seen_ && !dead_) {
        net::steady_timer timer(executor_, timeout);
        settings_waiters_.push_back(&timer);
        boost::system::error_code ec;
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
        std::erase(settings_waiters_, &timer);
    }
    co_return settings_seen_ && !dead_;
}

bool UpstreamH2::usable() const {
    return !dead_ && !goaway_ && streams_.size() < stream_limit();
}

std::shared_ptr<UpstreamStream> UpstreamH2::open(const HeaderList& head, bool has_body) {
    if (!usable()) return nullptr;
    auto stream = std::make_shared<UpstreamStream>(executor_);
    const std::int32_t id = session_.submit_request(head, has_body);
    if (id < 0) {
        // Stream ids exhausted, or the session is going away: no new stream here.
        goaway_ = true;
        return nullptr;
    }
    stream->id = id;
    streams_.emplace(id, stream);
    writer_.notify();
    return stream;
}

net::awaitable<bool> UpstreamH2::write(UpstreamStream& stream, std::string_view data) {
    while (!stream.closed && stream.outbox.unsent() >= kRequestOutboxLimit) {
        co_await stream.request_signal.wait();
    }
    if (stream.closed) {
        // Kept all the same while the outbox keeps the body: a stream refused unprocessed is
        // sent again with every byte the exchange meant for it.
        if (stream.outbox.holds_whole_body()) stream.outbox.append(data);
        co_return false;
    }
    stream.outbox.append(data);
    if (stream.deferred) {
        stream.deferred = false;
        session_.resume(stream.id);
    }
    writer_.notify();
    co_return true;
}

void UpstreamH2::finish_request(UpstreamStream& stream, const FieldList& trailers) {
    if (stream.closed || stream.out_end) return;
    const FieldList kept = forwardable_trailers(trailers);
    if (!kept.empty()) {
        stream.trailers.fields(kept);
        stream.has_trailers = stream.trailers.size() > 0;
    }
    stream.out_end = true;
    if (stream.deferred) {
        stream.deferred = false;
        session_.resume(stream.id);
    }
    writer_.notify();
}

net::awaitable<bool> UpstreamH2::wait_head(UpstreamStream& stream, std::chrono::seconds timeout,
                                           bool& timed_out) {
    timed_out = false;
    const auto deadline = Signal::Clock::now() + timeout;
    while (!stream.head_ready && !stream.closed) {
        if (!co_await stream.response_signal.wait_until(deadline) &&
            Signal::Clock::now() >= deadline) {
            timed_out = true;
            co_return false;
        }
    }
    co_return stream.head_ready && !stream.too_large;
}

net::awaitable<void> UpstreamH2::read_body(UpstreamStream& stream, std::string& piece, bool& done,
                                           boost::system::error_code& ec,
                                           std::chrono::seconds idle) {
    done = false;
    piece.clear();
    for (;;) {
        if (!stream.inbox.empty()) {
            piece.swap(stream.inbox);
            co_return;
        }
        if (stream.ended) {
            done = true;
            co_return;
        }
        if (stream.closed) {
            ec = net::error::connection_reset;
            co_return;
        }
        const auto deadline = Signal::Clock::now() + idle;
        if (!co_await stream.response_signal.wait_until(deadline) &&
            Signal::Clock::now() >= deadline) {
            ec = net::error::timed_out;
            co_return;
        }
    }
}

void UpstreamH2::consumed(UpstreamStream& stream, std::size_t n) {
    if (n == 0 || dead_) return;
    session_.consumed(stream.id, n);
    writer_.notify();
}

void UpstreamH2::cancel(UpstreamStream& stream) {
    stream.abandoned = true;
    if (stream.inbox.size() > 0) {
        consumed(stream, stream.inbox.size());
        stream.inbox.clear();
    }
    if (!stream.closed && !dead_) {
        session_.reset(stream.id, NGHTTP2_CANCEL);
        writer_.notify();
    }
}

void UpstreamH2::on_field(std::int32_t id, std::string_view name, std::string_view value) {
    UpstreamStream* stream = find(id);
    if (stream == nullptr || stream->too_large) return;
    stream->head_bytes += name.size() + value.size() + 4;
    FieldList& into = stream->head_ready ? stream->response_trailers : stream->head;
    if (stream->head_bytes > limits_.max_head_bytes || into.size() >= limits_.max_fields) {
        // The header list beyond the head limits: nothing more kept, the stream refused.
        stream->too_large = true;
        stream->head.clear();
        stream->response_trailers.clear();
        session_.reset(id, NGHTTP2_CANCEL);
        writer_.notify();
        return;
    }
    if (!stream->head_ready && name == ":status") {
        unsigned status = 0;
        std::from_chars(value.data(), value.data() + value.size(), status);
        stream->status = status;
    }
    into.emplace_back(std::string(name), std::string(value));
}

void UpstreamH2::on_headers_end(std::int32_t id, bool end_stream) {
    UpstreamStream* stream = find(id);
    if (stream == nullptr || stream->too_large) return;
    if (!stream->head_ready) {
        if (stream->status >= 100 && stream->status < 200) {
            // An interim head (100 Continue, 103): nothing for the exchange.
            stream->head.clear();
            stream->head_bytes = 0;
            stream->status = 0;
            return;
        }
        stream->head_ready = true;
        stream->head_bytes = 0;  // trailers have their own budget
    }
    if (end_stream) stream->ended = true;
    stream->response_signal.notify();
}

void UpstreamH2::on_data(std::int32_t id, std::string_view data) {
    UpstreamStream* stream = find(id);
    if (stream == nullptr || stream->abandoned) {
        session_.consumed(id, data.size());
        writer_.notify();
        return;
    }
    stream->inbox.append(data);
    stream->response_signal.notify();
}

void UpstreamH2::on_end(std::int32_t id) {
    if (UpstreamStream* stream = find(id)) {
        stream->ended = true;
        stream->response_signal.notify();
    }
}

void UpstreamH2::on_goaway(std::int32_t last_stream_id) {
    goaway_ = true;
    goaway_last_ = std::min(goaway_last_, last_stream_id);
}

void UpstreamH2::on_stream_close(std::int32_t id, std::uint32_t error_code) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) return;
    UpstreamStream& stream = *it->second;
    stream.closed = true;
    // (nghttp2 closes the streams above a GOAWAY's last stream id with REFUSED_STREAM.)
    stream.error_code = error_code;
    stream.request_signal.notify();
    stream.response_signal.notify();
    streams_.erase(it);
    writer_.notify();  // a slot is free; the idle timer may start
}

long UpstreamH2::read_request(std::int32_t id, std::uint8_t* out, std::size_t length, bool& eof,
                              bool& trailers) {
    UpstreamStream* stream = find(id);
    if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (stream->outbox.all_sent() && !stream->out_end) {
        stream->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = stream->outbox.take(out, length);
    if (stream->out_end && stream->outbox.all_sent()) {
        eof = true;
        if (stream->has_trailers) {
            trailers = true;
            session_.submit_trailers(id, stream->trailers);
        }
    }
    stream->request_signal.notify();
    return static_cast<long>(n);
}

net::awaitable<void> UpstreamH2::write_loop(std::shared_ptr<UpstreamH2> self) {
    std::string out;
    boost::system::error_code ec;
    bool closing = false;
    while (!dead_) {
        out.clear();
        for (std::string_view chunk = session_.next_output(); !chunk.empty();
             chunk = session_.next_output()) {
            out.append(chunk);
            if (out.size() >= 64 * 1024) break;
        }
        if (!out.empty()) {
            // An upstream that stops reading for max_idle is dead: the socket closes, and every
            // stream on it ends instead of waiting behind this write.
            connection_->stream.expires_after(max_idle_);
            co_await net::async_write(connection_->stream, net::buffer(out),
                                      net::redirect_error(net::use_awaitable, ec));
            if (ec) break;
            connection_->stream.expires_never();
            continue;
        }
        if (closing || !session_.wants_io()) break;
        if (streams_.empty()) {
            // Idle: after max_idle without a stream, a polite GOAWAY and the end.
            const bool woken =
                co_await writer_.wait_until(Signal::Clock::now() + std::chrono::seconds(max_idle_));
            if (!woken && streams_.empty() && !dead_) {
                goaway_ = true;
                closing = true;
                session_.terminate(NGHTTP2_NO_ERROR);
            }
        } else {
            co_await writer_.wait();
        }
    }
    die();
    (void)self;
}

net::awaitable<void> UpstreamH2::read_loop(std::shared_ptr<UpstreamH2> self) {
    ChunkLease chunk;
    boost::system::error_code ec;
    while (!dead_) {
        const std::size_t n = co_await connection_->stream.async_read_some(
            net::buffer(chunk.data(), chunk.size()), net::redirect_error(net::use_awaitable, ec));
        if (ec || dead_) break;
        const bool go_on = receive(std::string_view(chunk.data(), n));
        if (!go_on) break;
    }
    die();
    (void)self;
}

void UpstreamH2::die() {
    if (!dead_) {
        dead_ = true;
        boost::system::error_code ignored;
        // The other loop may wait on the socket: its operation ends with operation_aborted.
        connection_->stream.socket().cancel(ignored);
        writer_.notify();
        for (auto* timer : settings_waiters_) timer->cancel();
    }
    // Every stream learns it is over; on_stream_close will not come for them any more.
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, stream] : streams) {
        stream->closed = true;
        // Above the GOAWAY's last stream id the upstream did not process the stream (nghttp2
        // closes those as REFUSED_STREAM when the GOAWAY arrives; this covers one still open
        // when the connection ended).
        if (stream->error_code == 0) {
            stream->error_code = id > goaway_last_ ? std::uint32_t{NGHTTP2_REFUSED_STREAM}
                                                   : std::uint32_t{NGHTTP2_INTERNAL_ERROR};
        }
        stream->request_signal.notify();
        stream->response_signal.notify();
    }
}

std::shared_ptr<UpstreamH2> UpstreamH2Pool::find(std::string_view key, const UpstreamH2* avoid) {
    const auto it = by_key_.find(key);
    if (it == by_key_.end()) return nullptr;
    auto& list = it->second;
    std::erase_if(list, [](const std::shared_ptr<UpstreamH2>& c) { return !c->alive(); });
    for (const auto& connection : list) {
        if (connection.get() != avoid && connection->usable()) return connection;
    }
    return nullptr;
}

std::shared_ptr<UpstreamH2Pool::PendingDial> UpstreamH2Pool::join_dial(std::string_view key) {
    const auto limit = learned_.find(key);
    const auto it = dialing_.find(key);
    if (limit == learned_.end() || !limit->second->speaks_h2 || it == dialing_.end()) {
        return nullptr;
    }
    for (const auto& dial : it->second) {
        if (!dial->done && dial->riders < limit->second->streams) {
            ++dial->riders;
            return dial;
        }
    }
    return nullptr;
}

std::shared_ptr<LearnedStreamLimit> UpstreamH2Pool::learned(std::string_view key) {
    auto it = learned_.find(key);
    if (it == learned_.end()) {
        it = learned_.emplace(std::string(key), std::make_shared<LearnedStreamLimit>()).first;
    }
    return it->second;
}

const LearnedStreamLimit* UpstreamH2Pool::learned_limit(std::string_view key) const {
    const auto it = learned_.find(key);
    return it == learned_.end() ? nullptr : it->second.get();
}

std::shared_ptr<UpstreamH2Pool::PendingDial> UpstreamH2Pool::start_dial(
    const std::string& key, const boost::asio::any_io_executor& executor) {
    auto dial = std::make_shared<PendingDial>(executor);
    dialing_[key].push_back(dial);
    return dial;
}

void UpstreamH2Pool::end_dial(const std::string& key, const std::shared_ptr<PendingDial>& dial,
                              bool h2) {
    dial->done = true;
    dial->timer.cancel();
    if (const auto it = dialing_.find(key); it != dialing_.end()) {
        std::erase(it->second, dial);
        if (it->second.empty()) dialing_.erase(it);
    }
    // The stream limit learned stays: a later HTTP/2 dial takes no more streams than it.
    if (h2) {
        learned(key)->speaks_h2 = true;
    } else if (const auto it = learned_.find(key); it != learned_.end()) {
        it->second->speaks_h2 = false;
    }
}

net::awaitable<void> wait_for_dial(std::shared_ptr<UpstreamH2Pool::PendingDial> dial) {
    if (dial->done) co_return;
    dial->timer.expires_at(net::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await dial->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
}

void UpstreamH2Pool::add(std::shared_ptr<UpstreamH2> connection) {
    connection->share_limit(learned(connection->key()));
    auto& list = by_key_[connection->key()];
    std::erase_if(list, [](const std::shared_ptr<UpstreamH2>& c) { return !c->alive(); });
    list.push_back(std::move(connection));
}

std::size_t UpstreamH2Pool::count(std::string_view key) const {
    const auto it = by_key_.find(key);
    return it == by_key_.end() ? 0 : it->second.size();
}

std::optional<runtime::Refusal> missing_head_outcome(const UpstreamStream& stream, bool timed_out,
                                                     bool body_replayable, int retries_done) {
    if (timed_out) {
        return runtime::Refusal{504, "upstream_timeout", "the upstream did not answer in time"};
    }
    if (stream.too_large) {
        return runtime::Refusal{502, "upstream_bad_response",
                                "the upstream's response head exceeds the gateway's limits"};
    }
    if (!stream.refused()) {
        return runtime::Refusal{502, "upstream_unreachable",
                                "the upstream reset the stream before responding"};
    }
    if (retries_done >= kRefusedStreamRetries) {
        return runtime::Refusal{502, "upstream_refused_stream",
                                "the upstream refused the stream unprocessed (REFUSED_STREAM or "
                                "GOAWAY) again after " +
                                    std::to_string(retries_done) + " retry on another connection"};
    }
    if (!body_replayable) {
        return runtime::Refusal{
            502, "upstream_refused_stream",
            "the upstream refused the stream unprocessed (REFUSED_STREAM or GOAWAY) after more "
            "than " +
                std::to_string(kRequestReplayLimit / 1024) +
                " KiB of the request body went out, more than the gateway keeps to send again"};
    }
    return std::nullopt;
}

std::string retried_reason(const std::string& reason, int retries) {
    if (retries == 0) return reason;
    std::string out = reason;
    if (!out.empty()) out += "; ";
    out +=
        "sent again on another upstream connection: the upstream refused the stream "
        "unprocessed";
    return out;
}

HeaderList request_header_list(const http::Head& request, bool te_trailers) {
    HeaderList list;
    list.add(":method", request.method());
    list.add(":scheme", "https");
    list.add(":authority", request["Host"]);
    list.add(":path", request.target());
    for (const http::HeadField& field : request.fields()) {
        if (is_connection_specific(field.name)) continue;
        list.add(field.name, field.value);
    }
    if (te_trailers) list.add("te", "trailers");
    return list;
}

HeaderList websocket_connect_header_list(const http::Head& request) {
    HeaderList list;
    list.add(":method", "CONNECT");
    list.add(":protocol", "websocket");
    list.add(":scheme", "https");
    list.add(":authority", request["Host"]);
    list.add(":path", request.target());
    for (const http::HeadField& field : request.fields()) {
        if (is_connection_specific(field.name) || ascii_iequals(field.name, "Sec-WebSocket-Key") ||
            ascii_iequals(field.name, "Content-Length")) {
            continue;
        }
        list.add(field.name, field.value);
    }
    return list;
}

std::optional<std::string> response_head_text(unsigned status, const FieldList& fields,
                                              const http::HeadLimits& limits, std::string& out) {
    out.clear();
    if (status < 200 || status > 999) return "the upstream's HTTP/2 response has no valid :status";
    out.append("HTTP/1.1 ").append(std::to_string(status)).append(" \r\n");
    for (const auto& [name, value] : fields) {
        if (!name.empty() && name.front() == ':') continue;
        out.append(name).append(": ").append(value).append("\r\n");
    }
    out.append("\r\n");
    if (auto rejection = http::validate_response_head(out, limits)) {
        return "invalid response from upstream: " + rejection->reason;
    }
    return std::nullopt;
}

FieldList forwardable_trailers(const FieldList& fields) {
    FieldList kept;
    for (const auto& [name, value] : fields) {
        if (name.empty() || name.front() == ':' || is_connection_specific(name) ||
            ascii_iequals(name, "Content-Length") || ascii_iequals(name, "Content-Type") ||
            ascii_iequals(name, "Trailer") || ascii_iequals(name, "Authorization") ||
            ascii_iequals(name, "Proxy-Authorization") || ascii_iequals(name, "Cookie")) {
            continue;
        }
        kept.emplace_back(name, value);
    }
    return kept;
}

}  // namespace cloakroom::proxy::h2
