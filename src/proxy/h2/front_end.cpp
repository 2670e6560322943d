// The HTTP/2 front end: see front_end.hpp. Life of a stream (docs/architecture.md, "HTTP/2"):
// HEADERS → RequestFields → an HTTP/1.1 head (codec.hpp) → decide_exchange → apply_plan →
// round_trip (the body pumped from DATA frames, window updates as the upstream takes it) →
// prepare_response → HEADERS to the agent → ResponseBodyReader pieces queued on the stream and
// pulled by nghttp2 as the agent's window allows → trailers → one audit record.
//
// An extended CONNECT for a WebSocket (RFC 8441) is the same exchange: the codec turns it into
// the HTTP/1.1 opening handshake, the upstream (always over HTTP/1.1) answers 101, the agent
// gets `:status 200` and the stream's DATA frames become the WebSocket's bytes through the one
// two-way pump (websocket_relay.hpp), with the stream as the agent's side.
#include "proxy/h2/front_end.hpp"

#include <openssl/rand.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "http/websocket.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/h2/codec.hpp"
#include "proxy/h2/session.hpp"
#include "proxy/h2/signal.hpp"
#include "proxy/websocket_relay.hpp"
#include "util/base64.hpp"

namespace cloakroom::proxy::h2 {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;

struct Stream {
    Stream(std::int32_t stream_id, const http::HeadLimits& limits,
           const net::any_io_executor& executor)
        : id(stream_id), request(limits), in_signal(executor), out_signal(executor) {}

    std::int32_t id;
    RequestFields request;
    bool has_body = false;       // the HEADERS did not end the stream
    bool request_ended = false;  // END_STREAM seen
    std::string inbox;           // request body not yet sent upstream (bounded by the window)
    bool discard = false;        // no pump reads the body: DATA is acknowledged and dropped
    FieldList request_trailers;  // within the head limits (trailer_bytes)
    std::size_t trailer_bytes = 0;

    std::string outbox;  // response body waiting for the agent's window
    std::size_t out_begin = 0;
    bool out_end = false;   // the last piece is in the outbox
    bool deferred = false;  // nghttp2 waits for resume()
    bool sent_all = false;  // the body's end went to nghttp2
    HeaderList trailers;
    bool has_trailers = false;

    bool closed = false;  // reset by the agent, or the connection ended
    // A WebSocket relay on this stream ended: no more pieces are taken, nothing more is read.
    bool out_closed = false;
    // The Sec-WebSocket-Key of the upstream handshake of an extended CONNECT (codec.hpp).
    std::string websocket_key;
    // The stream's request on an HTTP/2 upstream, reset when the agent resets this stream (a
    // cancelled gRPC call is cancelled upstream too, and its exchange stops waiting).
    std::weak_ptr<UpstreamH2> upstream;
    std::weak_ptr<UpstreamStream> upstream_stream;
    // Two waiters at most, one per direction (an upload runs beside the response over HTTP/2
    // upstreams): the request side (body bytes, its end, the close) and the response side (room
    // in the outbox, the end sent, the close).
    Signal in_signal;
    Signal out_signal;
    void wake_all() {
        in_signal.notify();
        out_signal.notify();
    }
};

class Connection final : public SessionHandler, public std::enable_shared_from_this<Connection> {
  public:
    Connection(Worker& worker, Target target, StreamRouter router,
               const net::any_io_executor& executor, ConnectionSessions* sessions)
        : worker_(worker),
          target_(std::move(target)),
          router_(std::move(router)),
          sessions_(sessions),
          executor_(executor),
          session_(*this, worker.gateway.limits),
          writer_(executor),
          reader_exit_(executor) {}

    // Over the agent's stream (TlsStream or PlainStream); `received`: bytes already read from it.
    template <class AgentStream>
    net::awaitable<void> run(AgentStream& agent, std::string_view received);

    // SessionHandler
    void on_request_begin(std::int32_t id) override;
    void on_request_field(std::int32_t id, std::string_view name, std::string_view value) override;
    void on_request_headers(std::int32_t id, bool end_stream) override;
    void on_request_trailer(std::int32_t id, std::string_view name,
                            std::string_view value) override;
    void on_request_data(std::int32_t id, std::string_view data) override;
    void on_request_end(std::int32_t id) override;
    void on_stream_close(std::int32_t id, std::uint32_t error_code) override;
    long read_response(std::int32_t id, std::uint8_t* out, std::size_t length, bool& eof,
                       bool& trailers) override;

    // The request body went upstream: the agent may send that much more.
    void consumed(Stream& stream, std::size_t n) {
        session_.consumed(stream.id, n);
        writer_.notify();
    }
    Gateway& gateway() { return worker_.gateway; }

  private:
    friend class StreamPumpSide;
    template <class AgentStream>
    net::awaitable<void> read_loop(std::shared_ptr<Connection> self, AgentStream& agent);
    // The upstream opened a stream's WebSocket (a 101 over HTTP/1.1, a 2xx to an extended
    // CONNECT over HTTP/2), unless `problem`: `:status 200` to the agent, then the WebSocket
    // through the two-way pump until either side ends it. `from_upstream`: bytes read past the
    // answer.
    template <class UpstreamSide>
    net::awaitable<void> open_websocket(Stream& stream, http::Head& response,
                                        const RequestPlan& plan, runtime::Exchange& exchange,
                                        std::optional<std::string> problem,
                                        UpstreamSide& upstream_side, std::string from_upstream);
    // The read deadline on the agent's connection: none while a WebSocket relays (each relay
    // has its own idle watch, and a WebSocket may stay quiet on the agent's side for long).
    void set_read_deadline(bool first);
    net::awaitable<void> serve_stream(std::shared_ptr<Connection> self,
                                      std::shared_ptr<Stream> stream);
    template <class Leg>
    net::awaitable<void> relay(Stream& stream, http::Head& request, const RequestPlan& plan,
                               runtime::Exchange& exchange, Leg& leg, bool expects_continue);
    // The exchange over a stream of an HTTP/2 upstream: the request body is pumped beside the
    // response (bidirectional streaming), trailers pass both ways.
    // A stream the upstream refused unprocessed is sent once more on another connection
    // (missing_head_outcome in upstream_connection.hpp).
    net::awaitable<void> relay_h2(std::shared_ptr<Stream> stream, http::Head& request,
                                  const RequestPlan& plan, runtime::Exchange& exchange,
                                  std::shared_ptr<UpstreamH2> upstream, const Runtime& runtime,
                                  bool expects_continue, bool te_trailers);
    // The request body's pump to the upstream stream. One per exchange: a retry after a refused
    // stream restarts it on the new stream, first sending what `replay` kept.
    struct Upload {
        explicit Upload(const net::any_io_executor& executor) : finished(executor) {}
        std::uint64_t bytes = 0;
        bool done = false;
        bool abandon = false;  // the response is over: stop pumping
        ReplayableBody replay;
        Signal finished;
    };
    // Stops the upload of a refused stream, leaving the agent's body to the next one.
    net::awaitable<void> pause_upload(Stream& stream, Upload& state);
    // Stops the upload if it still runs (the upstream stream is reset) and waits for its end.
    net::awaitable<void> join_upload(Stream& stream, UpstreamH2& upstream,
                                     UpstreamStream& upstream_stream, Upload& state);
    net::awaitable<void> upload(std::shared_ptr<Connection> self, std::shared_ptr<Stream> stream,
                                std::shared_ptr<UpstreamH2> upstream,
                                std::shared_ptr<UpstreamStream> upstream_stream,
                                std::shared_ptr<Upload> state);
    // Queues a response piece, first waiting while the stream's outbox is full; false when the
    // stream is gone.
    net::awaitable<bool> push(Stream& stream, std::string_view piece);
    // Records and answers a refusal on the stream alone.
    void answer(Stream& stream, runtime::Exchange& exchange, const runtime::Refusal& refusal);
    // Records an upstream failure (an error, or a denial by the address policy) and answers it.
    void answer_upstream_failure(Stream& stream, runtime::Exchange& exchange,
                                 const runtime::Refusal& failure) {
        pipeline_detail::record_upstream_failure(exchange, failure);
        exchange.finish();
        respond_error(stream, failure);
    }
    // The JSON error response (error_response.hpp) on the stream; no audit.
    void respond_error(Stream& stream, const runtime::Refusal& refusal);
    void kick(Stream& stream) {
        if (stream.deferred) {
            stream.deferred = false;
            session_.resume(stream.id);
        }
        writer_.notify();
    }
    Stream* find(std::int32_t id) {
        const auto it = streams_.find(id);
        return it == streams_.end() ? nullptr : it->second.get();
    }

    Worker& worker_;
    // The connection's target; a stream's own comes from router_ when there is one (the reverse
    // listener routes each stream), and is this one otherwise.
    Target target_;
    StreamRouter router_;
    // The agent connection's token registrations (connection_sessions.hpp); they live in the
    // caller's frame, so they are used only while run() has not returned (ended_ false).
    ConnectionSessions* sessions_;
    net::any_io_executor executor_;
    ServerSession session_;
    std::map<std::int32_t, std::shared_ptr<Stream>> streams_;
    Signal writer_;
    Signal reader_exit_;
    // Sets the read deadline of the agent's stream (none for nullopt), while run() has not
    // returned (ended_); empty otherwise.
    std::function<void(std::optional<Watchdog::clock::duration>)> deadline_;
    int relays_ = 0;  // WebSocket relays under way
    bool reader_done_ = false;
    bool ended_ = false;
};

// A stream of an extended CONNECT as the agent's side of the two-way pump
// (runtime/two_way_pump.hpp): reads take the stream's DATA (acknowledged to the agent as they
// are taken, so at most the stream's window waits here), writes queue on the stream's outbox
// (waiting while kOutboxLimit is queued: a slow agent slows the upstream's reads), and the
// relay's end ends the stream with END_STREAM after what is queued.
class StreamPumpSide {
  public:
    StreamPumpSide(Connection& connection, Stream& stream)
        : connection_(connection), stream_(stream) {}

    net::awaitable<std::size_t> read_some(net::mutable_buffer into, beast::error_code& ec) {
        ec = {};
        while (stream_.inbox.empty() && !stream_.request_ended && !stream_.closed &&
               !stream_.out_closed) {
            co_await stream_.in_signal.wait();
        }
        if (stream_.closed) {
            ec = net::error::connection_reset;  // RST_STREAM, or the connection ended
            co_return 0;
        }
        if (stream_.out_closed) {
            ec = net::error::operation_aborted;
            co_return 0;
        }
        if (stream_.inbox.empty()) {
            ec = net::error::eof;  // END_STREAM: the agent is done (RFC 8441 §4)
            co_return 0;
        }
        const std::size_t n = std::min(into.size(), stream_.inbox.size());
        std::memcpy(into.data(), stream_.inbox.data(), n);
        stream_.inbox.erase(0, n);
        connection_.consumed(stream_, n);
        co_return n;
    }
    net::awaitable<void> write_all(std::string_view bytes, beast::error_code& ec) {
        ec = {};
        // A named result and an explicit co_return: GCC 12 compiled `if (!co_await ...)` as the
        // whole body of this coroutine into an illegal instruction.
        const bool queued = co_await connection_.push(stream_, bytes);
        if (!queued) ec = net::error::connection_reset;
        co_return;
    }
    void close() {
        if (stream_.out_closed) return;
        stream_.out_closed = true;
        stream_.wake_all();
        // Whatever the agent still sends is acknowledged and dropped.
        stream_.discard = true;
        connection_.session_.consumed(stream_.id, stream_.inbox.size());
        stream_.inbox.clear();
        if (!stream_.closed) {
            stream_.out_end = true;  // END_STREAM once the queued frames went out
            connection_.kick(stream_);
        }
    }
    void shutdown_send() {}  // the relay ends as a whole (EndMode::Close)

  private:
    Connection& connection_;
    Stream& stream_;
};

// The request body from the stream's DATA frames to the upstream, as it arrives: as it is
// under a content-length, re-chunked otherwise. Window updates follow each write.
struct BodySender {
    Connection& connection;
    Stream& stream;
    bool chunked;
    std::chrono::seconds idle;

    template <class Upstream>
    net::awaitable<RelayResult> operator()(Upstream& upstream) {
        RelayResult result;
        http::ChunkFrame frame;
        std::string piece;
        for (;;) {
            while (stream.inbox.empty() && !stream.request_ended && !stream.closed) {
                co_await stream.in_signal.wait();
            }
            if (stream.closed && !stream.request_ended) {
                result.ec = net::error::operation_aborted;
                co_return result;
            }
            piece.clear();
            piece.swap(stream.inbox);
            const bool last = stream.request_ended && stream.inbox.empty();
            // Trailers go in the last chunk; a body under a content-length cannot carry them.
            const bool trailers = chunked && last && !stream.request_trailers.empty();
            if (!piece.empty() || (chunked && last)) {
                beast::get_lowest_layer(upstream).expires_after(idle);
                const auto buffers =
                    relay_detail::framed({}, piece, chunked, last && !trailers, frame);
                co_await net::async_write(upstream, buffers,
                                          net::redirect_error(net::use_awaitable, result.ec));
                if (!result.ec && trailers) {
                    std::string end;
                    pipeline_detail::append_last_chunk(
                        end, forwardable_trailers(stream.request_trailers));
                    co_await net::async_write(upstream, net::buffer(end),
                                              net::redirect_error(net::use_awaitable, result.ec));
                }
                if (result.ec) co_return result;
                result.bytes += piece.size();
                connection.consumed(stream, piece.size());
            }
            if (last) co_return result;
        }
    }
};

template <class AgentStream>
net::awaitable<void> Connection::run(AgentStream& agent, std::string_view received) {
    auto self = shared_from_this();
    if (!session_.ok()) co_return;
    deadline_ = [&agent](std::optional<Watchdog::clock::duration> timeout) {
        if (timeout) {
            agent.expires_after(*timeout);
        } else {
            agent.expires_never();
        }
    };
    // Bytes the caller read while it told HTTP/2 from HTTP/1.1 (the preface) come first.
    if (!received.empty() && !session_.receive(received)) reader_done_ = true;
    if (!reader_done_) net::co_spawn(executor_, read_loop(self, agent), net::detached);
    std::string out;
    beast::error_code ec;
    for (;;) {
        out.clear();
        for (std::string_view chunk = session_.next_output(); !chunk.empty();
             chunk = session_.next_output()) {
            out.append(chunk);
            if (out.size() >= 64 * 1024) break;
        }
        if (!out.empty()) {
            co_await net::async_write(agent, net::buffer(out),
                                      net::redirect_error(net::use_awaitable, ec));
            if (ec) break;
            continue;
        }
        if (reader_done_ || !session_.wants_io()) break;
        co_await writer_.wait();
    }
    ended_ = true;
    deadline_ = nullptr;
    // The reader may still wait for the agent: its receive ends with operation_aborted.
    while (!reader_done_) {
        beast::error_code ignored;
        agent.socket().cancel(ignored);
        co_await reader_exit_.wait();
    }
    for (auto& [id, stream] : streams_) {
        stream->closed = true;
        stream->wake_all();
        if (auto upstream = stream->upstream.lock()) {
            if (auto upstream_stream = stream->upstream_stream.lock()) {
                upstream->cancel(*upstream_stream);
            }
        }
    }
    streams_.clear();
}

template <class AgentStream>
net::awaitable<void> Connection::read_loop(std::shared_ptr<Connection> self, AgentStream& agent) {
    ChunkLease chunk;
    beast::error_code ec;
    bool first = true;
    while (!ended_) {
        set_read_deadline(first);
        const std::size_t n = co_await agent.async_read_some(
            net::buffer(chunk.data(), chunk.size()), net::redirect_error(net::use_awaitable, ec));
        if (ec || ended_) break;
        first = false;
        const bool go_on = session_.receive(std::string_view(chunk.data(), n));
        writer_.notify();
        if (!go_on) break;
    }
    reader_done_ = true;
    writer_.notify();
    reader_exit_.notify();
    (void)self;
}

void Connection::set_read_deadline(bool first) {
    if (!deadline_) return;
    const Timeouts& timeouts = worker_.gateway.timeouts;
    if (relays_ > 0) {
        deadline_(std::nullopt);
    } else {
        deadline_(first ? timeouts.first_header
                        : (streams_.empty() ? timeouts.idle : timeouts.body_idle));
    }
}

void Connection::on_request_begin(std::int32_t id) {
    if (ended_) return;
    streams_.emplace(id, std::make_shared<Stream>(id, worker_.gateway.limits, executor_));
}

void Connection::on_request_field(std::int32_t id, std::string_view name, std::string_view value) {
    if (Stream* stream = find(id)) stream->request.add(name, value);
}

void Connection::on_request_headers(std::int32_t id, bool end_stream) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second->has_body = !end_stream;
    it->second->request_ended = end_stream;
    net::co_spawn(executor_, serve_stream(shared_from_this(), it->second), net::detached);
}

void Connection::on_request_data(std::int32_t id, std::string_view data) {
    Stream* stream = find(id);
    if (stream == nullptr || stream->discard) {
        session_.consumed(id, data.size());
        return;
    }
    stream->inbox.append(data);
    stream->in_signal.notify();
}

void Connection::on_request_trailer(std::int32_t id, std::string_view name,
                                    std::string_view value) {
    Stream* stream = find(id);
    if (stream == nullptr) return;
    // Within the head limits; past them, trailers are dropped (an HPACK bomb costs nothing).
    stream->trailer_bytes += name.size() + value.size() + 4;
    if (stream->trailer_bytes > worker_.gateway.limits.max_head_bytes ||
        stream->request_trailers.size() >= worker_.gateway.limits.max_fields) {
        stream->request_trailers.clear();
        return;
    }
    stream->request_trailers.emplace_back(std::string(name), std::string(value));
}

void Connection::on_request_end(std::int32_t id) {
    if (Stream* stream = find(id)) {
        stream->request_ended = true;
        stream->in_signal.notify();
    }
}

void Connection::on_stream_close(std::int32_t id, std::uint32_t /*error_code*/) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& stream = *it->second;
    stream.closed = true;
    stream.wake_all();
    if (auto upstream = stream.upstream.lock()) {
        if (auto upstream_stream = stream.upstream_stream.lock())
            upstream->cancel(*upstream_stream);
    }
    streams_.erase(it);
}

long Connection::read_response(std::int32_t id, std::uint8_t* out, std::size_t length, bool& eof,
                               bool& trailers) {
    Stream* stream = find(id);
    if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::size_t available = stream->outbox.size() - stream->out_begin;
    if (available == 0 && !stream->out_end) {
        stream->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = std::min(available, length);
    std::memcpy(out, stream->outbox.data() + stream->out_begin, n);
    stream->out_begin += n;
    if (stream->out_begin == stream->outbox.size()) {
        stream->outbox.clear();
        stream->out_begin = 0;
    }
    if (stream->out_end && stream->outbox.empty()) {
        eof = true;
        stream->sent_all = true;
        if (stream->has_trailers) {
            trailers = true;
            session_.submit_trailers(id, stream->trailers);
        }
    }
    stream->out_signal.notify();  // room in the outbox, or the end went out
    return static_cast<long>(n);
}

net::awaitable<bool> Connection::push(Stream& stream, std::string_view piece) {
    while (!stream.closed && !stream.out_closed &&
           stream.outbox.size() - stream.out_begin >= kOutboxLimit) {
        co_await stream.out_signal.wait();
    }
    if (stream.closed || stream.out_closed) co_return false;
    if (stream.out_begin > 0) {
        stream.outbox.erase(0, stream.out_begin);
        stream.out_begin = 0;
    }
    stream.outbox.append(piece);
    kick(stream);
    co_return true;
}

void Connection::answer(Stream& stream, runtime::Exchange& exchange,
                        const runtime::Refusal& refusal) {
    exchange.refuse(refusal);
    exchange.finish();
    respond_error(stream, refusal);
}

void Connection::respond_error(Stream& stream, const runtime::Refusal& refusal) {
    if (stream.closed) return;
    // The same answer as on HTTP/1.1 (error_response.hpp).
    std::string body = error_body(refusal.error, refusal.reason);
    HeaderList head;
    head.add(":status", std::to_string(refusal.status));
    head.add("server", "cloakroom");
    head.add("content-type", "application/json");
    head.add(kErrorHeader, refusal.error);
    head.add("cache-control", "no-store");
    if (refusal.retry_after != 0) head.add("retry-after", std::to_string(refusal.retry_after));
    head.add("content-length", std::to_string(body.size()));
    // Whatever body the agent still sends is acknowledged and dropped.
    stream.discard = true;
    session_.consumed(stream.id, stream.inbox.size());
    stream.inbox.clear();
    stream.outbox = std::move(body);
    stream.out_begin = 0;
    stream.out_end = true;
    session_.submit_response(stream.id, head, true);
    writer_.notify();
}

net::awaitable<void> Connection::serve_stream(std::shared_ptr<Connection> self,
                                              std::shared_ptr<Stream> stream) {
    (void)self;
    // A stream the agent reset before it was looked at did nothing: no record (a rapid-reset
    // flood would otherwise write one per stream).
    if (stream->closed) co_return;
    // Each stream sees the newest configuration.
    const std::shared_ptr<const Runtime> runtime = worker_.gateway.runtime.get();
    runtime::Exchange exchange(runtime->audit, runtime::kAuditHttp, target_.client);
    if (stream->request.websocket()) {
        // The upstream's handshake key (RFC 6455 §4.1: 16 random bytes, base64).
        std::array<unsigned char, 16> nonce{};
        if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) == 1) {
            stream->websocket_key = base64_encode(
                std::string_view(reinterpret_cast<const char*>(nonce.data()), nonce.size()));
        }
    }
    auto text = stream->request.to_http1(stream->has_body, stream->websocket_key);
    HeadLease lease;
    http::Head& request = *lease;
    if (auto* refusal = std::get_if<runtime::Refusal>(&text)) {
        AuditRecord& audit = exchange.record();
        audit.host = target_.route.host;
        audit.service = target_.route.service != nullptr ? target_.route.service->name : "";
        audit.method.assign(stream->request.method());
        answer(*stream, exchange, *refusal);
        co_return;
    }
    if (!request.parse_request(std::get<std::string>(text))) {
        const runtime::Refusal refusal{400, "bad_request", "malformed request head"};
        answer(*stream, exchange, refusal);
        co_return;
    }
    // The stream's own target: the connection's, or routed from this head (reverse listener),
    // or the connection's routed again when the configuration changed since it was routed
    // (target.hpp). (No copy otherwise: an intercepted connection's streams share it.)
    std::optional<Target> routed;
    if (router_) {
        routed.emplace(router_(*runtime, request));
    } else if (target_.routed_by != runtime) {
        routed.emplace(target_);
        routed->route = route_again(runtime->config, target_.route);
        routed->routed_by = runtime;
    }
    const Target& target = routed ? *routed : target_;
    if (stream->request.websocket() && !http::is_websocket_upgrade(request)) {
        AuditRecord& audit = exchange.record();
        audit.host = target.route.host;
        audit.service = target.route.service != nullptr ? target.route.service->name : "";
        audit.method.assign(request.method());
        const runtime::Refusal refusal{
            400, "bad_request",
            "an extended CONNECT for a WebSocket needs sec-websocket-version: 13"};
        answer(*stream, exchange, refusal);
        co_return;
    }
    PlanOutcome outcome = co_await decide_exchange(runtime, target, request, worker_, exchange,
                                                   ended_ ? nullptr : sessions_);
    if (auto* refusal = std::get_if<Refusal>(&outcome)) {
        answer(*stream, exchange, *refusal);
        co_return;
    }
    RequestPlan& plan = std::get<RequestPlan>(outcome);
    const bool expects_continue = ascii_iequals(request["Expect"], "100-continue");
    const bool te_trailers = asks_for_trailers(request);
    apply_plan(plan, request);
    if (!plan.upstream_tls) {
        PlainUpstreamLeg leg(worker_.gateway, plan.upstream_host, plan.upstream_port);
        co_await relay(*stream, request, plan, exchange, leg, expects_continue);
        co_return;
    }
    // HTTP/2 towards the upstream when it speaks it (upstream_h2_exchange.hpp), else HTTP/1.1;
    // a WebSocket goes over HTTP/2 as an extended CONNECT when the upstream's SETTINGS allow it,
    // else over HTTP/1.1 on a connection that must speak it.
    std::unique_ptr<UpstreamConnection> fresh;
    bool require_http11 = false;
    if (upstream_h2_first(worker_, plan)) {
        UpstreamChoice choice;
        co_await choose_upstream(worker_, *runtime, plan, choice);
        if (choice.refusal) {
            answer_upstream_failure(*stream, exchange, *choice.refusal);
            co_return;
        }
        if (choice.h2 && plan.websocket) {
            const bool settled =
                co_await choice.h2->wait_settings(worker_.gateway.timeouts.dial.handshake);
            if (!settled || !choice.h2->connect_protocol()) {
                choice.h2.reset();
                require_http11 = true;
            }
        }
        if (choice.h2) {
            co_await relay_h2(stream, request, plan, exchange, std::move(choice.h2), *runtime,
                              expects_continue, te_trailers);
            co_return;
        }
        fresh = std::move(choice.h1);
    }
    TlsUpstreamLeg leg(worker_, *runtime, *plan.service, plan.upstream_host, plan.upstream_port,
                       std::move(fresh));
    if (require_http11) leg.require_http11();
    co_await relay(*stream, request, plan, exchange, leg, expects_continue);
}

template <class Leg>
net::awaitable<void> Connection::relay(Stream& stream, http::Head& request, const RequestPlan& plan,
                                       runtime::Exchange& exchange, Leg& leg,
                                       bool expects_continue) {
    const Gateway& gateway = worker_.gateway;
    AuditRecord& audit = exchange.record();
    // The head holds the credential: wiped on every way out, before the pooled string is reused.
    StringLease request_head(1024);
    const pipeline_detail::WipeOnExit wipe_request_head(request_head.text());
    request.append_request(request_head.text());
    if (expects_continue && stream.has_body && !stream.request_ended) {
        session_.submit_continue(stream.id);
        writer_.notify();
    }
    HeadLease response_lease;
    http::Head& response = *response_lease;
    ResponseBody response_body;
    RoundTrip<typename Leg::Connection> trip;
    // An extended CONNECT's DATA frames are the WebSocket's, relayed once the upstream said 101.
    trip.accept_upgrade = plan.websocket;
    {
        BodySender sender{*this, stream, request.chunked(), gateway.timeouts.body_idle};
        co_await round_trip(leg, request_head.text(), stream.has_body && !plan.websocket, sender,
                            gateway, request.method() == "HEAD", response, response_body, trip);
    }
    audit.bytes_in = trip.sent.bytes;
    if (trip.sent.ec) {
        if (stream.closed) {
            exchange.fail(502, "the agent reset the stream during the request body");
            co_return;
        }
        const runtime::Refusal failure{502, "upstream_unreachable",
                                       "request body relay failed: " + trip.sent.ec.message()};
        answer_upstream_failure(stream, exchange, failure);
        co_return;
    }
    if (trip.refusal) {
        answer_upstream_failure(stream, exchange, *trip.refusal);
        co_return;
    }
    auto& upstream = trip.upstream;
    if (trip.switched_protocols) {
        // The agent has no key of its own: the answer must accept the gateway's.
        std::optional<std::string> problem =
            websocket_answer_problem(response, http::websocket_accept(stream.websocket_key));
        proxy::StreamSide<decltype(upstream->stream)> upstream_side(upstream->stream);
        std::string from_upstream(static_cast<const char*>(upstream->buffer.data().data()),
                                  upstream->buffer.size());
        upstream->buffer.consume(upstream->buffer.size());
        co_await open_websocket(stream, response, plan, exchange, std::move(problem), upstream_side,
                                std::move(from_upstream));
        co_return;
    }
    if (plan.websocket) {
        // No WebSocket: the answer is the stream's response, and what the agent may still send
        // on the stream goes nowhere. A 2xx would tell the agent the WebSocket is open (RFC 8441
        // §5) and its body would be read as frames: refused.
        stream.discard = true;
        session_.consumed(stream.id, stream.inbox.size());
        stream.inbox.clear();
        if (response.status() >= 200 && response.status() < 300) {
            const runtime::Refusal failure{502, "upstream_bad_response",
                                           "the upstream answered the WebSocket handshake with " +
                                               std::to_string(response.status()) +
                                               " instead of switching protocols"};
            answer_upstream_failure(stream, exchange, failure);
            co_return;
        }
    }
    const bool upstream_keep_alive = response.keep_alive();
    std::optional<ResponseFilter> filter;
    if (auto failure = prepare_response(plan, response, filter)) {
        answer_upstream_failure(stream, exchange, *failure);
        co_return;
    }
    HeaderList head;
    head.response(response);
    const bool has_body = !response_body.is_done();
    if (stream.closed || !session_.submit_response(stream.id, head, has_body)) {
        exchange.fail(response.status(), "the agent reset the stream");
        co_return;
    }
    writer_.notify();

    beast::error_code ec;
    if (has_body) {
        ResponseBodyReader reader(upstream->stream, upstream->buffer, response_body,
                                  filter ? &*filter : nullptr, gateway.timeouts.body_idle);
        while (!reader.done()) {
            const std::string_view piece = co_await reader.next(ec);
            if (ec) break;
            const bool queued = co_await push(stream, piece);
            reader.release();
            if (!queued) {
                ec = net::error::connection_reset;
                break;
            }
        }
        audit.bytes_out = reader.bytes();
        if (!ec) {
            // Trailers of a chunked upstream response become HTTP/2 trailers (gRPC puts its
            // status there), redacted like the head.
            auto fields = response_body.trailers();
            if (!fields.empty()) {
                if (plan.redacts()) {
                    for (auto& [name, value] : fields) {
                        name = plan.redaction->needles.redactor().redact(name);
                        value = plan.redaction->needles.redactor().redact(value);
                    }
                }
                stream.trailers.fields(fields);
                stream.has_trailers = stream.trailers.size() > 0;
            }
            stream.out_end = true;
            kick(stream);
            while (!stream.sent_all && !stream.closed) co_await stream.out_signal.wait();
            if (!stream.sent_all) ec = net::error::connection_reset;
        } else if (!stream.closed) {
            // The upstream failed midway: the agent must not take a truncated body for a whole
            // one.
            session_.reset(stream.id, NGHTTP2_INTERNAL_ERROR);
            writer_.notify();
        }
    }
    if (ec) {
        exchange.fail(response.status(), "response relay failed: " + ec.message());
    } else {
        exchange.complete(response.status(), pipeline_detail::decision_of(plan.mode), plan.reason);
    }
    exchange.finish();
    if (!ec && plan.websocket && !stream.closed && !stream.request_ended) {
        // The refused WebSocket's stream is over; the agent may not have ended its side.
        session_.reset(stream.id, NGHTTP2_NO_ERROR);
        writer_.notify();
    }
    if (!ec && upstream_keep_alive && response_body.is_done() && response_body.length_known()) {
        leg.release(std::move(upstream));
    }
}

template <class UpstreamSide>
net::awaitable<void> Connection::open_websocket(
    Stream& stream, http::Head& response, const RequestPlan& plan, runtime::Exchange& exchange,
    std::optional<std::string> problem, UpstreamSide& upstream_side, std::string from_upstream) {
    if (!problem && plan.redacts() && !redact_response_head(response, plan.redaction->needles)) {
        problem = "the upstream's response head echoes the credential across fields";
    }
    if (problem) {
        upstream_side.close();
        const runtime::Refusal failure{502, "upstream_bad_response", *problem};
        answer_upstream_failure(stream, exchange, failure);
        co_return;
    }
    // RFC 8441 §5: a 2xx opens the WebSocket; the handshake's hop-by-hop fields and its accept
    // value (HTTP/2 has no key) stay behind.
    http::remove_hop_by_hop(response);
    HeaderList head;
    head.add(":status", "200");
    for (const http::HeadField& field : response.fields()) {
        if (is_connection_specific(field.name) ||
            ascii_iequals(field.name, "Sec-WebSocket-Accept")) {
            continue;
        }
        head.add(field.name, field.value);
    }
    head.add("via", "1.1 cloakroom");
    if (stream.closed || !session_.submit_response(stream.id, head, true)) {
        upstream_side.close();
        exchange.fail(200, "the agent reset the stream before the WebSocket opened");
        co_return;
    }
    writer_.notify();

    ++relays_;
    set_read_deadline(false);
    StreamPumpSide agent_side(*this, stream);
    std::string from_agent;  // the stream's DATA is read by the pump itself (a named local: GCC
                             // PR 100611 destroys temporaries in a co_await expression twice)
    co_await pump_websocket(agent_side, upstream_side, std::move(from_agent),
                            std::move(from_upstream), plan, pipeline_detail::decision_of(plan.mode),
                            200, exchange, worker_.gateway);
    --relays_;
    if (!ended_) set_read_deadline(false);
}

net::awaitable<void> Connection::upload(std::shared_ptr<Connection> self,
                                        std::shared_ptr<Stream> stream,
                                        std::shared_ptr<UpstreamH2> upstream,
                                        std::shared_ptr<UpstreamStream> upstream_stream,
                                        std::shared_ptr<Upload> state) {
    (void)self;
    std::string piece;
    // A retry: what the refused stream was sent goes first (and its end, if it went).
    bool going = true;
    if (!state->replay.held().empty()) {
        going = co_await upstream->write(*upstream_stream, state->replay.held());
    }
    if (going && state->replay.complete()) {
        upstream->finish_request(*upstream_stream, stream->request_trailers);
        going = false;
    }
    while (going) {
        while (stream->inbox.empty() && !stream->request_ended && !stream->closed &&
               !state->abandon) {
            co_await stream->in_signal.wait();
        }
        if (state->abandon || (stream->closed && !stream->request_ended)) break;
        piece.clear();
        piece.swap(stream->inbox);
        const bool last = stream->request_ended && stream->inbox.empty();
        if (!piece.empty()) {
            state->bytes += piece.size();
            const bool written = co_await upstream->write(*upstream_stream, piece);
            consumed(*stream, piece.size());
            if (!written) break;
        }
        if (last) {
            state->replay.mark_complete();
            upstream->finish_request(*upstream_stream, stream->request_trailers);
            break;
        }
    }
    state->done = true;
    state->finished.notify();
}

net::awaitable<void> Connection::pause_upload(Stream& stream, Upload& state) {
    if (!state.done) {
        state.abandon = true;
        stream.in_signal.notify();
        while (!state.done) co_await state.finished.wait();
    }
    state.abandon = false;
}

net::awaitable<void> Connection::join_upload(Stream& stream, UpstreamH2& upstream,
                                             UpstreamStream& upstream_stream, Upload& state) {
    if (state.done) co_return;
    state.abandon = true;
    stream.in_signal.notify();
    upstream.cancel(upstream_stream);  // an upload waiting for the upstream's window ends too
    while (!state.done) co_await state.finished.wait();
    // Whatever the agent still sends is acknowledged and dropped.
    stream.discard = true;
    session_.consumed(stream.id, stream.inbox.size());
    stream.inbox.clear();
    writer_.notify();
}

net::awaitable<void> Connection::relay_h2(std::shared_ptr<Stream> stream_ptr, http::Head& request,
                                          const RequestPlan& plan, runtime::Exchange& exchange,
                                          std::shared_ptr<UpstreamH2> upstream,
                                          const Runtime& runtime, bool expects_continue,
                                          bool te_trailers) {
    Stream& stream = *stream_ptr;
    const Gateway& gateway = worker_.gateway;
    AuditRecord& audit = exchange.record();
    std::shared_ptr<UpstreamStream> up;
    // The request body streams beside the response: a bidirectional call (gRPC) gets its
    // answers while it still sends.
    auto state = std::make_shared<Upload>(executor_);
    state->done = true;  // until an upload runs
    bool timed_out = false;
    bool headed = false;
    int retries = 0;
    for (;; ++retries) {
        {
            // Holds the credential; nghttp2 copies it when the request is submitted. A
            // WebSocket's extended CONNECT carries its frames after the answer (no upload).
            HeaderList head = plan.websocket ? websocket_connect_header_list(request)
                                             : request_header_list(request, te_trailers);
            up = upstream->open(head, stream.has_body);
        }
        // The body stays in the outbox while it may have to go again (not a WebSocket's).
        if (up && !plan.websocket) up->outbox.keep_sent();
        if (!up) {
            const runtime::Refusal failure{502, "upstream_unreachable",
                                           "the upstream's HTTP/2 connection takes no new stream"};
            audit.bytes_in = state->bytes;
            answer_upstream_failure(stream, exchange, failure);
            co_return;
        }
        stream.upstream = upstream;
        stream.upstream_stream = up;
        if (retries == 0 && expects_continue && stream.has_body && !stream.request_ended) {
            session_.submit_continue(stream.id);
            writer_.notify();
        }
        if (stream.has_body && !plan.websocket) {
            state->done = false;
            net::co_spawn(executor_, upload(shared_from_this(), stream_ptr, upstream, up, state),
                          net::detached);
        }
        headed = co_await upstream->wait_head(*up, gateway.timeouts.upstream_response, timed_out);
        // (A WebSocket is not sent again: another connection may not take extended CONNECT.)
        if (headed || !up->refused() || stream.closed || plan.websocket) break;
        // Refused unprocessed (RFC 9113 §8.7), before any response byte reached the agent: once
        // more on another connection, when the body sent so far is held.
        co_await pause_upload(stream, *state);
        if (h2::missing_head_outcome(*up, timed_out, up->outbox.holds_whole_body(), retries)) {
            break;
        }
        state->replay.take(*up);
        UpstreamChoice choice;
        co_await choose_upstream(worker_, runtime, plan, choice, upstream.get());
        if (!choice.h2) {
            const runtime::Refusal failure =
                choice.refusal ? *choice.refusal
                               : runtime::Refusal{502, "upstream_refused_stream",
                                                  "the upstream refused the stream unprocessed, "
                                                  "and its new connection chose HTTP/1.1"};
            audit.bytes_in = state->bytes;
            answer_upstream_failure(stream, exchange, failure);
            co_return;
        }
        upstream = std::move(choice.h2);
    }

    std::optional<runtime::Refusal> failure;
    HeadLease response_lease;
    http::Head& response = *response_lease;
    std::optional<ResponseFilter> filter;  // decoding and redaction (docs/redaction.md)
    if (!headed) {
        failure = missing_head_outcome(*up, timed_out, up->outbox.holds_whole_body(), retries);
        if (!failure) {
            failure = runtime::Refusal{502, "upstream_unreachable",
                                       "the upstream reset the stream before responding"};
        }
    } else {
        std::string text;
        if (auto problem = response_head_text(up->status, up->head, gateway.limits, text)) {
            failure = runtime::Refusal{502, "upstream_bad_response", *problem};
        } else {
            response.parse_response(text);
            if (plan.websocket && response.status() >= 200 && response.status() < 300) {
                // Named locals, not temporaries in the co_await (GCC PR 100611).
                UpstreamStreamSide upstream_side(upstream, up);
                std::optional<std::string> answer_problem = websocket_h2_answer_problem(response);
                std::string from_upstream;  // the pump reads the stream's DATA itself
                co_await open_websocket(stream, response, plan, exchange, std::move(answer_problem),
                                        upstream_side, std::move(from_upstream));
                co_return;
            }
            if (plan.websocket) {
                // Not opened: the answer is the stream's response; what the agent still sends
                // goes nowhere, and the upstream stream's request side ends.
                upstream->finish_request(*up, {});
                stream.discard = true;
                session_.consumed(stream.id, stream.inbox.size());
                stream.inbox.clear();
            }
            failure = prepare_response(plan, response, filter);
        }
    }
    if (failure) {
        upstream->cancel(*up);
        co_await join_upload(stream, *upstream, *up, *state);
        audit.bytes_in = state->bytes;
        if (stream.closed) {
            exchange.fail(502, "the agent reset the stream");
        } else {
            answer_upstream_failure(stream, exchange, *failure);
        }
        co_return;
    }
    HeaderList head;
    head.response(response);
    const bool has_body = !(up->ended && up->inbox.empty() && up->response_trailers.empty());
    if (stream.closed || !session_.submit_response(stream.id, head, has_body)) {
        upstream->cancel(*up);
        co_await join_upload(stream, *upstream, *up, *state);
        audit.bytes_in = state->bytes;
        exchange.fail(response.status(), "the agent reset the stream");
        co_return;
    }
    writer_.notify();

    boost::system::error_code ec;
    std::string piece;
    std::string redacted;
    bool done = !has_body;
    while (!done) {
        co_await upstream->read_body(*up, piece, done, ec, gateway.timeouts.body_idle);
        if (ec) break;
        std::string_view pass = piece;
        if (filter) {
            ec = filter->filter(piece, done, redacted, pass);  // in place when plain
            if (ec) break;
        }
        if (!pass.empty() && !co_await push(stream, pass)) {
            ec = net::error::connection_reset;
            break;
        }
        audit.bytes_out += pass.size();
        // Taken: the upstream may send that much more on this stream.
        upstream->consumed(*up, piece.size());
    }
    if (!ec && has_body) {
        // The upstream's trailers (gRPC's status), redacted like the head.
        if (!up->response_trailers.empty()) {
            FieldList fields = up->response_trailers;
            if (plan.redacts()) {
                for (auto& [name, value] : fields) {
                    name = plan.redaction->needles.redactor().redact(name);
                    value = plan.redaction->needles.redactor().redact(value);
                }
            }
            std::erase_if(fields, [](const auto& field) {
                return field.first.empty() || field.first.front() == ':';
            });
            stream.trailers.fields(fields);
            stream.has_trailers = stream.trailers.size() > 0;
        }
        stream.out_end = true;
        kick(stream);
        while (!stream.sent_all && !stream.closed) co_await stream.out_signal.wait();
        if (!stream.sent_all) ec = net::error::connection_reset;
    } else if (ec && !stream.closed) {
        // The upstream failed or reset midway: the agent must not take a truncated body for a
        // whole one; a reset's own code (CANCEL, ...) is passed on.
        session_.reset(stream.id, up->error_code != 0 ? up->error_code
                                                      : std::uint32_t{NGHTTP2_INTERNAL_ERROR});
        writer_.notify();
    }
    if (ec) upstream->cancel(*up);
    co_await join_upload(stream, *upstream, *up, *state);
    audit.bytes_in = state->bytes;
    if (!ec && !stream.closed && !stream.request_ended) {
        // The response is complete while the agent still sends: RFC 9113 §8.1.
        session_.reset(stream.id, NGHTTP2_NO_ERROR);
        writer_.notify();
    }
    if (ec) {
        exchange.fail(response.status(), "response relay failed: " + ec.message());
    } else {
        exchange.complete(response.status(), pipeline_detail::decision_of(plan.mode),
                          retried_reason(plan.reason, retries));
    }
    exchange.finish();
}

}  // namespace

net::awaitable<void> serve_h2(TlsStream& tls, const Target& target, Worker& worker,
                              ConnectionSessions* sessions) {
    auto connection =
        std::make_shared<Connection>(worker, target, nullptr, tls.get_executor(), sessions);
    co_await connection->run(tls, {});
}

net::awaitable<void> serve_h2c(PlainStream& stream, std::string_view received,
                               const Target& connection, StreamRouter route, Worker& worker,
                               ConnectionSessions* sessions) {
    auto session = std::make_shared<Connection>(worker, connection, std::move(route),
                                                stream.get_executor(), sessions);
    co_await session->run(stream, received);
}

}  // namespace cloakroom::proxy::h2
