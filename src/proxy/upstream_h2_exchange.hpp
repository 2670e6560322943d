// The upstream side of an exchange over HTTP/2, for the HTTP/1.1 front ends (the HTTP/2 front
// end has its own relay, proxy/h2/front_end.cpp): docs/architecture.md, "HTTP/2".
//
// Which protocol an upstream speaks is its ALPN answer, per connection: a request to a service's
// upstream takes an HTTP/2 connection of the worker's pool with a free stream slot, else an idle
// HTTP/1.1 connection of the pool, else dials offering "h2" then "http/1.1" and goes on with
// what the upstream chose. The agent's protocol and the upstream's are independent. A WebSocket
// upgrade goes over HTTP/2 as an RFC 8441 extended CONNECT when the upstream chose h2 and its
// SETTINGS enable it (upstream_h2_websocket.hpp), else over HTTP/1.1 as before.
//
// Included at the end of exchange_pipeline.hpp, whose stages it uses: the same plan, injected
// head, response head redaction (prepare_response) and streaming redactor, one audit record.
#pragma once

#include <boost/asio/this_coro.hpp>
#include <memory>
#include <optional>
#include <string>

#include "http/websocket.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/h2/upstream_connection.hpp"
#include "proxy/upstream_h2_websocket.hpp"

namespace cloakroom::proxy {

inline constexpr std::chrono::seconds kUpstreamH2MaxIdle{30};

// Whether the exchange should look for HTTP/2 first: the worker holds an HTTP/2 connection to
// this upstream, or no idle HTTP/1.1 one (a dial comes anyway). Not a coroutine: the common
// case, a kept-alive HTTP/1.1 upstream, costs no frame.
inline bool upstream_h2_first(Worker& worker, const RequestPlan& plan) {
    thread_local std::string key;
    write_pool_key(key, plan.upstream_host, plan.upstream_port, plan.service->connect_to,
                   plan.service->allow_private);
    return worker.h2_pool.count(key) > 0 || worker.pool.idle_count(key) == 0;
}

struct UpstreamChoice {
    std::shared_ptr<h2::UpstreamH2> h2;
    std::unique_ptr<UpstreamConnection> h1;  // a new connection whose upstream chose HTTP/1.1
    std::optional<runtime::Refusal> refusal;
};

// An HTTP/2 connection from the pool, or a new connection offering h2 (either protocol).
// `avoid`: a connection that refused the exchange's stream (a retry goes elsewhere).
inline boost::asio::awaitable<void> choose_upstream(Worker& worker, const Runtime& runtime,
                                                    const RequestPlan& plan, UpstreamChoice& out,
                                                    const h2::UpstreamH2* avoid = nullptr) {
    std::string key;
    write_pool_key(key, plan.upstream_host, plan.upstream_port, plan.service->connect_to,
                   plan.service->allow_private);
    // A burst to an upstream that speaks HTTP/2 rides on the dials already under way, as many
    // requests per dial as the upstream takes streams; a ride that finds no slot dials itself.
    for (int ride = 0; ride < 2; ++ride) {
        out.h2 = worker.h2_pool.find(key, avoid);
        if (out.h2) co_return;
        auto pending = worker.h2_pool.join_dial(key);
        if (!pending) break;
        co_await wait_for_dial(std::move(pending));
    }
    const UpstreamTarget target{plan.upstream_host, plan.upstream_port, plan.service->connect_to,
                                plan.service->allow_private};
    auto dial = worker.h2_pool.start_dial(key, co_await boost::asio::this_coro::executor);
    auto dialed = co_await dial_upstream(target, runtime.upstream_context(plan.service),
                                         worker.gateway.timeouts.dial, /*offer_h2=*/true);
    if (auto* failure = std::get_if<DialFailure>(&dialed)) {
        worker.h2_pool.end_dial(key, dial, false);
        out.refusal = refusal_of(std::move(*failure));
        co_return;
    }
    auto connection = std::move(std::get<std::unique_ptr<UpstreamConnection>>(dialed));
    if (!connection->h2) {
        worker.h2_pool.end_dial(key, dial, false);
        out.h1 = std::move(connection);
        co_return;
    }
    auto session = std::make_shared<h2::UpstreamH2>(std::move(connection), worker.gateway.limits,
                                                    kUpstreamH2MaxIdle);
    session->start();
    if (!session->usable()) {
        worker.h2_pool.end_dial(key, dial, false);
        out.refusal = runtime::Refusal{502, "upstream_unreachable",
                                       "cannot start an HTTP/2 session with the upstream"};
        co_return;
    }
    worker.h2_pool.add(session);
    // The dialer opens its stream before the riders wake (they run after this coroutine
    // suspends next), so it always has its slot.
    worker.h2_pool.end_dial(key, dial, true);
    out.h2 = std::move(session);
}

namespace pipeline_detail {

// The "0" chunk that ends a chunked body, with trailers.
inline void append_last_chunk(std::string& out, const h2::FieldList& trailers) {
    out.append("0\r\n");
    for (const auto& [name, value] : trailers)
        out.append(name).append(": ").append(value).append("\r\n");
    out.append("\r\n");
}

}  // namespace pipeline_detail

// An HTTP/1.1 agent's WebSocket whose upstream answered its extended CONNECT with a 2xx: the
// agent gets the 101 its handshake expects (the accept of its own key), then the frames both
// ways through pump_websocket, the server's through the redaction filter. Returns false: the
// agent's connection is the relay's.
template <class ClientStream>
boost::asio::awaitable<bool> open_websocket_h2(ClientStream& client,
                                               boost::beast::flat_buffer& client_buffer,
                                               const http::Head& request, http::Head& response,
                                               const RequestPlan& plan, runtime::Exchange& exchange,
                                               std::shared_ptr<h2::UpstreamH2> upstream,
                                               std::shared_ptr<h2::UpstreamStream> stream,
                                               const Gateway& gateway) {
    namespace net = boost::asio;
    std::optional<std::string> problem = websocket_h2_answer_problem(response);
    if (!problem && plan.redacts() && !redact_response_head(response, plan.redaction->needles)) {
        problem = "the upstream's response head echoes the credential across fields";
    }
    if (problem) {
        upstream->cancel(*stream);
        const runtime::Refusal failure{502, "upstream_bad_response", *problem};
        pipeline_detail::record_upstream_failure(exchange, failure);
        exchange.finish();
        co_return co_await write_error(client, failure.status, failure.error, failure.reason, 11,
                                       false);
    }
    http::remove_hop_by_hop(response);
    std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
    head.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
        .append(http::websocket_accept(request["Sec-WebSocket-Key"]))
        .append("\r\n");
    for (const http::HeadField& field : response.fields()) {
        if (h2::is_connection_specific(field.name) || ascii_iequals(field.name, "Content-Length") ||
            ascii_iequals(field.name, "Sec-WebSocket-Accept") || ascii_iequals(field.name, "Via")) {
            continue;
        }
        head.append(field.name).append(": ").append(field.value).append("\r\n");
    }
    head.append("Via: 1.1 cloakroom\r\n\r\n");
    boost::system::error_code ec;
    co_await net::async_write(client, net::buffer(head),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        upstream->cancel(*stream);
        exchange.fail(101, "the agent went away before the WebSocket opened: " + ec.message());
        exchange.finish();
        co_return false;
    }
    StreamSide<ClientStream> agent_side(client);
    UpstreamStreamSide upstream_side(upstream, stream);
    std::string from_agent(static_cast<const char*>(client_buffer.data().data()),
                           client_buffer.size());
    client_buffer.consume(client_buffer.size());
    std::string from_upstream;  // the stream's DATA is read by the pump itself (named locals:
                                // GCC PR 100611)
    co_await pump_websocket(agent_side, upstream_side, std::move(from_agent),
                            std::move(from_upstream), plan, pipeline_detail::decision_of(plan.mode),
                            101, exchange, gateway);
    co_return false;
}

// An HTTP/1.x agent's exchange over an upstream HTTP/2 stream. The request body goes first (an
// HTTP/1.1 agent does not read a response before its request is sent), then the response
// streams back: as it is under a Content-Length, chunked otherwise or when the agent accepts
// trailers, with the upstream's trailers (redacted) in the last chunk. A stream the upstream
// refused unprocessed is sent once more on another connection (missing_head_outcome). Returns
// whether the agent's connection may go on.
template <class ClientStream>
boost::asio::awaitable<bool> relay_exchange_h2(
    ClientStream& client, boost::beast::flat_buffer& client_buffer, IncomingRequest& incoming,
    const RequestPlan& plan, runtime::Exchange& exchange, std::shared_ptr<h2::UpstreamH2> upstream,
    Worker& worker, const Runtime& runtime, bool expects_continue, bool client_keep_alive,
    bool te_trailers) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace bhttp = boost::beast::http;
    using namespace pipeline_detail;
    const Gateway& gateway = worker.gateway;
    http::Head& request = *incoming.head;
    const unsigned version = incoming.version();
    const bool body_pending = incoming.body_pending();
    AuditRecord& audit = exchange.record();
    auto refuse_upstream = [&](const runtime::Refusal& failure) -> net::awaitable<bool> {
        record_upstream_failure(exchange, failure);
        exchange.finish();
        co_return co_await write_error(client, failure.status, failure.error, failure.reason,
                                       version, client_keep_alive && !body_pending);
    };

    std::shared_ptr<h2::UpstreamStream> stream;
    h2::ReplayableBody replay;  // what went upstream, for a retry after a refused stream
    beast::error_code ec;
    if (body_pending && expects_continue) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(client, net::buffer(kContinue),
                                  net::redirect_error(net::use_awaitable, ec));
    }
    int retries = 0;
    for (;; ++retries) {
        {
            // The header list holds the credential; nghttp2 copies it when the request is
            // submitted.
            // A WebSocket's extended CONNECT stream carries its frames after the answer.
            h2::HeaderList head = plan.websocket ? h2::websocket_connect_header_list(request)
                                                 : h2::request_header_list(request, te_trailers);
            stream = upstream->open(head, body_pending || plan.websocket);
        }
        // The body stays in the outbox while it may have to go again (not a WebSocket's).
        if (stream && !plan.websocket) {
            stream->outbox.keep_sent(body_pending ? request.content_length().value_or(0) : 0);
        }
        if (!stream) {
            const runtime::Refusal failure{502, "upstream_unreachable",
                                           "the upstream's HTTP/2 connection takes no new stream"};
            co_return co_await refuse_upstream(failure);
        }
        bool sent = true;  // false: the stream closed under the body (refused, or reset)
        if (body_pending) {
            // A retry sends again what the refused stream got, then reads on.
            if (!replay.held().empty()) sent = co_await upstream->write(*stream, replay.held());
            RequestParser& parser = *incoming.body;
            ChunkLease lease;
            char* const chunk = lease.data();
            auto& body = parser.get().body();
            while (sent && !ec && !parser.is_done()) {
                body.data = chunk;
                body.size = kRelayChunk;
                beast::get_lowest_layer(client).expires_after(gateway.timeouts.body_idle);
                co_await bhttp::async_read_some(client, client_buffer, parser,
                                                net::redirect_error(net::use_awaitable, ec));
                if (ec == bhttp::error::need_buffer) ec = {};
                if (ec) break;
                const std::string_view piece(chunk, kRelayChunk - body.size);
                audit.bytes_in += piece.size();
                if (piece.empty()) continue;
                sent = co_await upstream->write(*stream, piece);
            }
            if (ec) {
                upstream->cancel(*stream);
                if (is_malformed_body(ec)) {
                    const runtime::Refusal malformed{400, "bad_request",
                                                     "malformed request body: " + ec.message()};
                    exchange.refuse(malformed);
                    exchange.finish();
                    co_await write_error(client, malformed.status, malformed.error,
                                         malformed.reason, version, false);
                    co_return false;
                }
                exchange.fail(502, "request body relay failed: " + ec.message());
                co_return false;
            }
            if (sent) {
                replay.mark_complete();
                upstream->finish_request(*stream, {});
            }
        }
        bool timed_out = false;
        bool headed = false;
        if (sent) {
            headed = co_await upstream->wait_head(*stream, gateway.timeouts.upstream_response,
                                                  timed_out);
        }
        if (headed) break;
        upstream->cancel(*stream);
        std::optional<runtime::Refusal> failure = h2::missing_head_outcome(
            *stream, timed_out, stream->outbox.holds_whole_body(), retries);
        if (!failure && plan.websocket) {
            // Not sent again: another connection may not take extended CONNECT.
            failure = runtime::Refusal{502, "upstream_unreachable",
                                       "the upstream refused the WebSocket's stream"};
        }
        if (!failure) {
            // Nothing reached the agent yet: the request goes again on another connection.
            replay.take(*stream);
            UpstreamChoice choice;
            co_await choose_upstream(worker, runtime, plan, choice, upstream.get());
            if (choice.h2) {
                upstream = std::move(choice.h2);
                continue;
            }
            failure = choice.refusal ? *choice.refusal
                                     : runtime::Refusal{502, "upstream_refused_stream",
                                                        "the upstream refused the stream "
                                                        "unprocessed, and its new connection "
                                                        "chose HTTP/1.1"};
        }
        // (An agent that sent a body gets `Connection: close`: what is left of it is unread.)
        co_return co_await refuse_upstream(*failure);
    }
    HeadLease response_lease;
    http::Head& response = *response_lease;
    {
        std::string text;
        if (auto problem =
                h2::response_head_text(stream->status, stream->head, gateway.limits, text)) {
            upstream->cancel(*stream);
            const runtime::Refusal failure{502, "upstream_bad_response", *problem};
            co_return co_await refuse_upstream(failure);
        }
        response.parse_response(text);
    }
    if (plan.websocket) {
        if (response.status() >= 200 && response.status() < 300) {
            co_return co_await open_websocket_h2(client, client_buffer, request, response, plan,
                                                 exchange, std::move(upstream), std::move(stream),
                                                 gateway);
        }
        // Not opened: the answer is an ordinary response, and the stream's request side ends.
        upstream->finish_request(*stream, {});
    }
    // Decoding (a compressed body) and redaction, as on every other path (docs/redaction.md).
    std::optional<ResponseFilter> filter;
    if (auto failure = prepare_response(plan, response, filter)) {
        upstream->cancel(*stream);
        co_return co_await refuse_upstream(*failure);
    }
    const unsigned status = response.status();
    const bool head_request = request.method() == "HEAD";
    const bool no_body =
        head_request || status == 204 || status == 304 || (stream->ended && stream->inbox.empty());
    const bool has_length = response.content_length().has_value();
    // Chunked when the length is unknown, and when the agent accepts trailers (`TE: trailers`),
    // which only the last chunk can carry.
    const bool chunked = !no_body && version >= 11 && (!has_length || te_trailers);
    if (chunked && has_length) response.erase("Content-Length");
    const bool until_close = !no_body && !has_length && !chunked;
    if (no_body && !head_request && !has_length && status != 204 && status != 304) {
        response.set("Content-Length", "0");
    }
    if (chunked) response.set("Transfer-Encoding", "chunked");
    const bool keep = client_keep_alive && !until_close;
    response.set_keep_alive(keep);
    StringLease response_text(1024);
    std::string& out = response_text.text();
    response.append_response(out);
    beast::get_lowest_layer(client).expires_after(gateway.timeouts.body_idle);
    co_await net::async_write(client, net::buffer(out),
                              net::redirect_error(net::use_awaitable, ec));

    std::string piece;
    std::string redacted;
    http::ChunkFrame frame;
    bool done = no_body;
    while (!ec && !done) {
        co_await upstream->read_body(*stream, piece, done, ec, gateway.timeouts.body_idle);
        if (ec) break;
        std::string_view pass = piece;
        if (filter) {
            ec = filter->filter(piece, done, redacted, pass);  // in place when plain
            if (ec) break;
        }
        out.clear();
        if (done && chunked) {
            h2::FieldList trailers = h2::forwardable_trailers(stream->response_trailers);
            if (plan.redacts()) {
                for (auto& [name, value] : trailers) {
                    name = plan.redaction->needles.redactor().redact(name);
                    value = plan.redaction->needles.redactor().redact(value);
                }
            }
            append_last_chunk(out, trailers);
        }
        if (!pass.empty() || !out.empty()) {
            beast::get_lowest_layer(client).expires_after(gateway.timeouts.body_idle);
            const auto buffers =
                relay_detail::framed({}, pass, chunked && !pass.empty(), false, frame);
            co_await net::async_write(client, buffers, net::redirect_error(net::use_awaitable, ec));
            if (!ec && !out.empty()) {
                co_await net::async_write(client, net::buffer(out),
                                          net::redirect_error(net::use_awaitable, ec));
            }
        }
        audit.bytes_out += pass.size();
        upstream->consumed(*stream, piece.size());
    }
    if (!stream->ended || ec) upstream->cancel(*stream);
    if (ec) {
        exchange.fail(status, "response relay failed: " + ec.message());
    } else {
        exchange.complete(status, decision_of(plan.mode), h2::retried_reason(plan.reason, retries));
    }
    exchange.finish();
    co_return !ec && keep;
}

// A service's exchange when upstream_h2_first: over HTTP/2 if the upstream speaks it, else on
// the new HTTP/1.1 connection the dial gave (the HTTP/1.1 leg, as usual).
template <class ClientStream>
boost::asio::awaitable<bool> forward_choosing_protocol(
    ClientStream& client, boost::beast::flat_buffer& client_buffer, IncomingRequest& incoming,
    const RequestPlan& plan, runtime::Exchange& exchange, const Runtime& runtime, Worker& worker,
    bool expects_continue, bool client_keep_alive, bool te_trailers) {
    UpstreamChoice choice;
    co_await choose_upstream(worker, runtime, plan, choice);
    if (choice.refusal) {
        pipeline_detail::record_upstream_failure(exchange, *choice.refusal);
        exchange.finish();
        co_return co_await write_error(client, choice.refusal->status, choice.refusal->error,
                                       choice.refusal->reason, incoming.version(),
                                       client_keep_alive && !incoming.body_pending());
    }
    if (choice.h2 && plan.websocket) {
        // Extended CONNECT only when the upstream's SETTINGS say so; otherwise the HTTP/1.1
        // Upgrade on a connection that must speak HTTP/1.1 (a 502 when it speaks HTTP/2 only).
        const bool settled =
            co_await choice.h2->wait_settings(worker.gateway.timeouts.dial.handshake);
        if (!settled || !choice.h2->connect_protocol()) {
            TlsUpstreamLeg leg(worker, runtime, *plan.service, plan.upstream_host,
                               plan.upstream_port);
            leg.require_http11();
            co_return co_await relay_exchange(client, client_buffer, incoming, plan, exchange, leg,
                                              worker.gateway, expects_continue, client_keep_alive);
        }
    }
    if (choice.h2) {
        co_return co_await relay_exchange_h2(client, client_buffer, incoming, plan, exchange,
                                             std::move(choice.h2), worker, runtime,
                                             expects_continue, client_keep_alive, te_trailers);
    }
    TlsUpstreamLeg leg(worker, runtime, *plan.service, plan.upstream_host, plan.upstream_port,
                       std::move(choice.h1));
    co_return co_await relay_exchange(client, client_buffer, incoming, plan, exchange, leg,
                                      worker.gateway, expects_continue, client_keep_alive);
}

}  // namespace cloakroom::proxy
