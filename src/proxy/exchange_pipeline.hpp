// One HTTP request through the gateway, for every front end (CONNECT, absolute-form, reverse)
// and any agent stream (TLS after an intercepted CONNECT, plain TCP otherwise):
//   plan (request_plan.hpp: route, Host/SNI, path, rules, token, secrets) → apply the plan →
//   upstream leg (upstream_leg.hpp: verified TLS and pooled, or plain for [allow] hosts) →
//   request body → response head (validated) → response streamed back through the redactor →
//   the exchange's audit record (runtime/exchange.hpp), written on every way out.
// A new front end computes a Target and calls forward_request; nothing here is per front end.
#pragma once

#include <string.h>  // explicit_bzero

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http/hop_by_hop.hpp"
#include "proxy/connection_relay.hpp"
#include "proxy/connection_sessions.hpp"
#include "proxy/error_response.hpp"
#include "proxy/gateway.hpp"
#include "proxy/head_redaction.hpp"
#include "proxy/incoming_request.hpp"
#include "proxy/io_now.hpp"
#include "proxy/request_plan.hpp"
#include "proxy/target.hpp"
#include "proxy/upstream_leg.hpp"
#include "proxy/websocket_relay.hpp"
#include "runtime/admission.hpp"
#include "runtime/exchange.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy {

// Writes a Cloakroom error response (JSON body); returns whether the connection may go on.
template <class Stream>
boost::asio::awaitable<bool> write_error(Stream& stream, unsigned status, std::string_view error,
                                         std::string_view reason, unsigned version,
                                         bool keep_alive) {
    namespace net = boost::asio;
    auto response = make_error_response(status, error, reason, version, keep_alive);
    boost::beast::error_code ec;
    co_await boost::beast::http::async_write(stream, response,
                                             net::redirect_error(net::use_awaitable, ec));
    co_return !ec && keep_alive;
}

// Records the refusal, then answers it. Callers pass a named Refusal, never a temporary built
// in the co_await expression: GCC 12 may destroy such temporaries twice (GCC PR 100611). A request
// refused before its body was read ends the connection: the unread body would otherwise be parsed
// as the next request.
template <class Stream>
boost::asio::awaitable<bool> answer_refusal(Stream& stream, runtime::Exchange& exchange,
                                            const runtime::Refusal& refusal, unsigned version,
                                            bool keep_alive) {
    namespace net = boost::asio;
    exchange.refuse(refusal);
    exchange.finish();
    auto response =
        make_error_response(refusal.status, refusal.error, refusal.reason, version, keep_alive);
    if (refusal.retry_after != 0) {
        response.set(boost::beast::http::field::retry_after, std::to_string(refusal.retry_after));
    }
    boost::beast::error_code ec;
    co_await boost::beast::http::async_write(stream, response,
                                             net::redirect_error(net::use_awaitable, ec));
    co_return !ec && keep_alive;
}

namespace pipeline_detail {

// Overwrites text that held the injected credential before its buffer is reused or freed, on
// every way out of the scope.
struct WipeOnExit {
    explicit WipeOnExit(std::string& wiped) : text(wiped) {}
    std::string& text;
    WipeOnExit(const WipeOnExit&) = delete;
    WipeOnExit& operator=(const WipeOnExit&) = delete;
    ~WipeOnExit() {
        if (!text.empty()) explicit_bzero(text.data(), text.size());
        text.clear();
    }
};

inline std::string_view decision_of(RequestPlan::Mode mode) {
    switch (mode) {
        case RequestPlan::Mode::Inject:
            return runtime::kAllow;
        case RequestPlan::Mode::Passthrough:
            return runtime::kPassthrough;
        case RequestPlan::Mode::Plain:
            return runtime::kForward;
    }
    return runtime::kError;
}

// An upstream failure after the request was allowed: an error, except a refusal by the
// address policy, which is a denial.
inline void record_upstream_failure(runtime::Exchange& exchange, const runtime::Refusal& failure) {
    if (failure.status == 403) {
        exchange.refuse(failure);
    } else {
        exchange.fail(failure.status, failure.reason);
    }
}

// A request body the parser refused (Beast's HTTP errors), as opposed to the agent closing
// mid-body or a socket error.
inline bool is_malformed_body(const boost::beast::error_code& ec) {
    namespace bhttp = boost::beast::http;
    static const boost::system::error_category& http_errors =
        bhttp::make_error_code(bhttp::error::bad_chunk).category();
    return &ec.category() == &http_errors && ec != bhttp::error::partial_message &&
           ec != bhttp::error::end_of_stream;
}

}  // namespace pipeline_detail

// The response head as the agent gets it, for every front end: every part the upstream chose
// redacted (reason phrase, names, values) when the service has secrets, hop-by-hop fields out,
// Via in; `filter` set up for the body (decoding and redaction, response_filter.hpp). A secret
// spread across two parts of the head cannot be starred without breaking it, and a body in a
// coding Cloakroom cannot decode cannot be redacted: the refusal to answer instead (invariant 1).
inline std::optional<runtime::Refusal> prepare_response(const RequestPlan& plan,
                                                        http::Head& response,
                                                        std::optional<ResponseFilter>& filter) {
    if (plan.redacts()) {
        if (!redact_response_head(response, plan.redaction->needles)) {
            return runtime::Refusal{
                502, "upstream_bad_response",
                "the upstream's response head echoes the credential across fields; not relayed"};
        }
        if (auto refusal = prepare_response_filter(plan.redaction->needles, response, filter)) {
            return refusal;
        }
    }
    http::remove_hop_by_hop(response);
    response.set("Via", "1.1 cloakroom");
    return std::nullopt;
}

// The request's round trip on an upstream leg, for every front end: open a connection (pooled
// or new), send the head, the body through `send_body` (an awaitable taking the upstream
// stream, returning a RelayResult; the front end's own framing), then read the response head
// (validated like a request head: smuggling works both ways). A pooled connection can die
// under us before the server saw anything (write failure, or EOF before any response byte); a
// request without a body is then sent once more on a fresh connection.
template <class Connection>
struct RoundTrip {
    // In: whether a 101 answer is welcome (a WebSocket upgrade the plan allowed); otherwise it
    // is refused like any response the gateway cannot relay.
    bool accept_upgrade = false;
    std::unique_ptr<Connection> upstream;     // set when the response head was read
    std::optional<runtime::Refusal> refusal;  // no response: the front end answers this
    RelayResult sent;  // the request body; sent.ec set: its relay failed (no answer was read)
    bool switched_protocols = false;  // the answer was 101: the connection is the new protocol's
};

template <class Leg, class BodySender>
boost::asio::awaitable<void> round_trip(Leg& leg, std::string_view request_head, bool body_pending,
                                        BodySender& send_body, const Gateway& gateway,
                                        bool head_request, http::Head& response,
                                        ResponseBody& response_body,
                                        RoundTrip<typename Leg::Connection>& out) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    using Connection = typename Leg::Connection;
    // A pooled connection costs no coroutine frame (take_pooled is a plain call).
    out.upstream = leg.take_pooled();
    if (!out.upstream) {
        auto opened = co_await leg.dial();
        if (auto* failure = std::get_if<runtime::Refusal>(&opened)) {
            out.refusal = std::move(*failure);
            co_return;
        }
        out.upstream = std::move(std::get<std::unique_ptr<Connection>>(opened));
    }
    beast::error_code ec;
    ResponseHead response_head;
    for (bool retried = false;; retried = true) {
        auto& upstream = out.upstream;
        const bool may_retry = upstream->reused && !body_pending && !retried;
        ec = {};
        beast::get_lowest_layer(upstream->stream).expires_after(gateway.timeouts.body_idle);
        const net::const_buffer head_bytes = net::buffer(request_head);
        std::size_t written = 0;
        if (!write_all_now(upstream->stream, head_bytes, written, ec)) {
            co_await net::async_write(upstream->stream, suffix_after(head_bytes, written),
                                      net::redirect_error(net::use_awaitable, ec));
        }
        if (ec && may_retry) {
            auto redialed = co_await leg.dial();
            if (auto* failure = std::get_if<runtime::Refusal>(&redialed)) {
                out.upstream.reset();
                out.refusal = std::move(*failure);
                co_return;
            }
            upstream = std::move(std::get<std::unique_ptr<Connection>>(redialed));
            continue;
        }
        if (ec) {
            out.upstream.reset();
            out.refusal = runtime::Refusal{502, "upstream_unreachable",
                                           "sending the request upstream failed: " + ec.message()};
            co_return;
        }
        if (body_pending) {
            out.sent = co_await send_body(upstream->stream);
            if (out.sent.ec) {
                out.upstream.reset();
                co_return;
            }
        }
        response_head = co_await read_response_head(
            upstream->stream, upstream->buffer, gateway.limits, gateway.timeouts.upstream_response,
            head_request, response, response_body);
        if (!response_head.ok && may_retry && !response_head.got_bytes &&
            response_head.status != 504) {
            auto redialed = co_await leg.dial();
            if (auto* failure = std::get_if<runtime::Refusal>(&redialed)) {
                out.upstream.reset();
                out.refusal = std::move(*failure);
                co_return;
            }
            upstream = std::move(std::get<std::unique_ptr<Connection>>(redialed));
            continue;
        }
        break;
    }
    if (!response_head.ok) {
        out.upstream.reset();
        out.refusal = runtime::Refusal{response_head.status, std::move(response_head.error),
                                       std::move(response_head.reason)};
    } else if (response_head.switched_protocols && !out.accept_upgrade) {
        out.upstream.reset();
        out.refusal =
            runtime::Refusal{502, "upstream_bad_response",
                             "the upstream switched protocols, which the request did not ask for"};
    } else {
        out.switched_protocols = response_head.switched_protocols;
    }
}

namespace pipeline_detail {

// The HTTP/1 request body: "100 Continue" to the agent when it asked, then the body as Beast
// decodes it, re-chunked when it came chunked.
template <class ClientStream>
struct Http1BodySender {
    ClientStream& client;
    boost::beast::flat_buffer& client_buffer;
    RequestParser* parser;  // set whenever there is a body to send
    bool chunked;
    bool expects_continue;
    std::chrono::seconds idle;

    template <class UpstreamStream>
    boost::asio::awaitable<RelayResult> operator()(UpstreamStream& upstream) {
        namespace net = boost::asio;
        if (expects_continue) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            RelayResult failed;
            co_await net::async_write(client, net::buffer(kContinue),
                                      net::redirect_error(net::use_awaitable, failed.ec));
            if (failed.ec) co_return failed;
        }
        co_return co_await relay_request_body(client, client_buffer, *parser, upstream, chunked,
                                              idle);
    }
};

}  // namespace pipeline_detail

// The upstream half of an allowed exchange: send the planned request over the leg, relay the
// body, read the response head, stream the response back. Returns whether the agent's
// connection may carry another request.
template <class ClientStream, class Leg>
boost::asio::awaitable<bool> relay_exchange(ClientStream& client,
                                            boost::beast::flat_buffer& client_buffer,
                                            IncomingRequest& incoming, const RequestPlan& plan,
                                            runtime::Exchange& exchange, Leg& leg,
                                            const Gateway& gateway, bool expects_continue,
                                            bool client_keep_alive) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    using namespace pipeline_detail;
    http::Head& request = *incoming.head;
    const unsigned version = incoming.version();
    const bool body_pending = incoming.body_pending();
    const bool chunked_request = body_pending && request.chunked();
    AuditRecord& audit = exchange.record();

    auto refuse_upstream = [&](const runtime::Refusal& failure) -> net::awaitable<bool> {
        record_upstream_failure(exchange, failure);
        exchange.finish();
        co_return co_await write_error(client, failure.status, failure.error, failure.reason,
                                       version, client_keep_alive && !body_pending);
    };

    beast::error_code ec;
    const bool head_request = request.method() == "HEAD";
    // The head goes upstream as one write of our own bytes. It holds the credential: wiped on
    // every way out of here, before the pooled string is reused.
    StringLease request_head(1024);
    const WipeOnExit wipe_request_head(request_head.text());
    request.append_request(request_head.text());
    HeadLease response_lease;
    http::Head& response = *response_lease;
    ResponseBody response_body;
    RoundTrip<typename Leg::Connection> trip;
    trip.accept_upgrade = plan.websocket;
    {
        Http1BodySender<ClientStream> sender{
            client,          client_buffer,    incoming.body.get(),
            chunked_request, expects_continue, gateway.timeouts.body_idle};
        co_await round_trip(leg, request_head.text(), body_pending, sender, gateway, head_request,
                            response, response_body, trip);
    }
    audit.bytes_in = trip.sent.bytes;
    if (trip.sent.ec) {
        ec = trip.sent.ec;
        // A body the agent framed badly (a bad chunk size, a bare LF in a chunk) is its
        // error, answered 400 since no response has started; the upstream connection, which
        // saw part of it, is dropped. An agent that went away, or an upstream that failed,
        // gets no answer.
        if (pipeline_detail::is_malformed_body(ec)) {
            const runtime::Refusal malformed{400, "bad_request",
                                             "malformed request body: " + ec.message()};
            exchange.refuse(malformed);
            exchange.finish();
            co_await write_error(client, malformed.status, malformed.error, malformed.reason,
                                 version, false);
            co_return false;
        }
        exchange.fail(502, "request body relay failed: " + ec.message());
        co_return false;
    }
    if (trip.refusal) co_return co_await refuse_upstream(*trip.refusal);
    std::unique_ptr<typename Leg::Connection>& upstream = trip.upstream;
    if (trip.switched_protocols) {
        std::optional<std::string> problem = websocket_answer_problem(response);
        if (!problem && plan.redacts() &&
            !redact_response_head(response, plan.redaction->needles)) {
            problem = "the upstream's response head echoes the credential across fields";
        }
        if (problem) {
            const runtime::Refusal failure{502, "upstream_bad_response", *problem};
            co_return co_await refuse_upstream(failure);
        }
        co_return co_await relay_websocket(client, client_buffer, upstream->stream,
                                           upstream->buffer, response, plan, decision_of(plan.mode),
                                           exchange, gateway);
    }

    // Stream the response back, redacting the service's secrets wherever the upstream echoes
    // them (invariant 1), whatever this request carried.
    const bool upstream_keep_alive = response.keep_alive();
    const bool length_known = response_body.length_known();
    std::optional<ResponseFilter> filter;
    if (auto failure = prepare_response(plan, response, filter)) {
        co_return co_await refuse_upstream(*failure);
    }
    // A decoded body has no length of its own: re-chunked (prepare_response set the field).
    const bool chunked_response =
        response_body.kind() == ResponseBody::Kind::Chunked ||
        (filter && filter->decodes() && response_body.kind() != ResponseBody::Kind::None);
    const bool keep = client_keep_alive && length_known;
    response.set_keep_alive(keep);

    // When body bytes already arrived with the head (or there is no body), the relay's first
    // write sends the head with them: one write instead of two. Otherwise the head goes now, so
    // the client of a slow stream (SSE) sees it before the first event.
    const bool head_first = upstream->buffer.size() == 0 && !response_body.is_done();
    StringLease response_text(1024);
    std::string& head = response_text.text();
    response.append_response(head);
    if (head_first) {
        beast::get_lowest_layer(client).expires_after(gateway.timeouts.body_idle);
        const net::const_buffer head_bytes = net::buffer(head);
        std::size_t written = 0;
        if (!write_all_now(client, head_bytes, written, ec)) {
            co_await net::async_write(client, suffix_after(head_bytes, written),
                                      net::redirect_error(net::use_awaitable, ec));
        }
        head.clear();
    }
    RelayResult received;
    if (!ec) {
        received = co_await relay_response(upstream->stream, upstream->buffer, response_body,
                                           client, head, chunked_response,
                                           filter ? &*filter : nullptr, gateway.timeouts.body_idle);
        ec = received.ec;
    }

    audit.bytes_out = received.bytes;
    if (ec) {
        exchange.fail(response.status(), "response relay failed: " + ec.message());
    } else {
        exchange.complete(response.status(), decision_of(plan.mode), plan.reason);
    }
    exchange.finish();

    if (!ec && upstream_keep_alive && response_body.is_done() && length_known) {
        leg.release(std::move(upstream));
    }
    co_return !ec && keep;
}

// prepare_credential on the gateway's pool for blocking work; the caller resumes on its own
// executor with the result.
inline boost::asio::awaitable<PreparedCredential> prepare_off_loop(
    boost::asio::thread_pool& pool, std::shared_ptr<const Runtime> runtime,
    const config::Credential& credential) {
    co_return co_await boost::asio::co_spawn(
        pool,
        [runtime = std::move(runtime),
         &credential]() -> boost::asio::awaitable<PreparedCredential> {
            co_return prepare_credential(runtime, credential);
        },
        boost::asio::use_awaitable);
}

// The decision half of an exchange, for every front end (HTTP/1 and each HTTP/2 stream): the
// plan (pure), then the service's secrets, resolved after the request was authorized and off
// the event loop when a helper process may take its time, so that it stalls no other
// connection. Returns the plan to apply, or the refusal to answer; fills the audit record's
// request fields (token id and path also for a refusal). `sessions` (may be null) is the agent
// connection's: an allowed token is registered there, so that its revocation ends it.
//
// decide_exchange_now is all of it that never waits: a plain call, so that a request whose
// credential prepares at once (a file, an environment variable) costs no coroutine frame and
// no move of the whole plan through an awaitable's result. It sets `prepare_later` when the
// credential must still be prepared off the loop (prepare_later_off_loop, below).
inline PlanOutcome decide_exchange_now(const std::shared_ptr<const Runtime>& runtime,
                                       const Target& target, const http::Head& request,
                                       runtime::Exchange& exchange, ConnectionSessions* sessions,
                                       bool& prepare_later) {
    prepare_later = false;
    AuditRecord& audit = exchange.record();
    audit.host = target.route.host;
    audit.service = target.route.service != nullptr ? target.route.service->name : "";
    audit.method.assign(request.method());
    RefusalFacts facts;
    PlanOutcome outcome = plan_request(*runtime, target, request,
                                       static_cast<std::int64_t>(std::time(nullptr)), &facts);
    if (std::holds_alternative<Refusal>(outcome)) {
        audit.token_id = std::move(facts.token_id);
        audit.path = std::move(facts.path);
        return outcome;
    }
    RequestPlan& plan = std::get<RequestPlan>(outcome);
    audit.path = plan.path;
    audit.token_id = plan.token_id;
    // The agent's connection carries this token from now on: its revocation ends it.
    if (sessions != nullptr) sessions->note(plan.token_id, plan.token_minted);
    // Rate limits and budgets, before any secret is resolved (runtime/admission.hpp).
    if (auto limited = runtime::admit_limits(
            *runtime, audit.service, plan.service != nullptr ? &plan.service->limits : nullptr,
            plan.token_id, plan.usage_limits, plan.token_expires, exchange)) {
        return PlanOutcome{std::move(*limited)};
    }
    if (plan.credential != nullptr) {
        if (prepares_slowly(*plan.credential)) {
            prepare_later = true;
            return outcome;
        }
        if (auto refusal = attach_credential(plan, prepare_credential(runtime, *plan.credential))) {
            return PlanOutcome{std::move(*refusal)};
        }
    }
    return outcome;
}

// The rest of an outcome decide_exchange_now left with `prepare_later` set: the credential
// prepared on the gateway's pool for blocking work, then attached (or the refusal instead).
inline boost::asio::awaitable<void> prepare_later_off_loop(
    const std::shared_ptr<const Runtime>& runtime, Worker& worker, PlanOutcome& outcome) {
    RequestPlan& plan = std::get<RequestPlan>(outcome);
    PreparedCredential prepared =
        co_await prepare_off_loop(worker.gateway.blocking, runtime, *plan.credential);
    std::optional<Refusal> refusal = attach_credential(plan, std::move(prepared));
    if (refusal) outcome = PlanOutcome{std::move(*refusal)};
}

inline boost::asio::awaitable<PlanOutcome> decide_exchange(
    const std::shared_ptr<const Runtime>& runtime, const Target& target, const http::Head& request,
    Worker& worker, runtime::Exchange& exchange, ConnectionSessions* sessions = nullptr) {
    bool prepare_later = false;
    PlanOutcome outcome =
        decide_exchange_now(runtime, target, request, exchange, sessions, prepare_later);
    if (prepare_later) co_await prepare_later_off_loop(runtime, worker, outcome);
    co_return outcome;
}

// Whether the agent said it accepts trailers (`TE: trailers`, which gRPC requires): TE is
// hop-by-hop, so the plan removes it, and an HTTP/2 upstream gets it back.
inline bool asks_for_trailers(const http::Head& request) {
    const std::string_view te = request["TE"];
    for (std::size_t at = 0; at + 8 <= te.size(); ++at) {
        if (ascii_iequals(te.substr(at, 8), "trailers")) return true;
    }
    return false;
}

// The upstream half over HTTP/2, or over a new HTTP/1.1 connection when the upstream chose that
// (defined in upstream_h2_exchange.hpp, included at the end of this file).
inline bool upstream_h2_first(Worker& worker, const RequestPlan& plan);
template <class ClientStream>
boost::asio::awaitable<bool> forward_choosing_protocol(
    ClientStream& client, boost::beast::flat_buffer& client_buffer, IncomingRequest& incoming,
    const RequestPlan& plan, runtime::Exchange& exchange, const Runtime& runtime, Worker& worker,
    bool expects_continue, bool client_keep_alive, bool te_trailers);

// One request, start to end. `runtime` is the snapshot this request runs under; `sessions` (may
// be null) the agent connection's registrations (decide_exchange). Returns true when the agent's
// connection may carry another request.
template <class ClientStream>
boost::asio::awaitable<bool> forward_request(ClientStream& client,
                                             boost::beast::flat_buffer& client_buffer,
                                             IncomingRequest& incoming, const Target& target,
                                             const std::shared_ptr<const Runtime>& runtime,
                                             Worker& worker,
                                             ConnectionSessions* sessions = nullptr) {
    http::Head& request = *incoming.head;
    const bool client_keep_alive = request.keep_alive();
    runtime::Exchange exchange(runtime->audit, runtime::kAuditHttp, target.client);
    bool prepare_later = false;
    PlanOutcome outcome =
        decide_exchange_now(runtime, target, request, exchange, sessions, prepare_later);
    if (prepare_later) co_await prepare_later_off_loop(runtime, worker, outcome);
    if (auto* refusal = std::get_if<Refusal>(&outcome)) {
        co_return co_await answer_refusal(client, exchange, *refusal, incoming.version(),
                                          client_keep_alive && !incoming.body_pending());
    }
    RequestPlan& plan = std::get<RequestPlan>(outcome);

    const bool expects_continue = ascii_iequals(request["Expect"], "100-continue");
    const bool te_trailers = asks_for_trailers(request);
    apply_plan(plan, request);
    if (!plan.upstream_tls) {
        PlainUpstreamLeg leg(worker.gateway, plan.upstream_host, plan.upstream_port);
        co_return co_await relay_exchange(client, client_buffer, incoming, plan, exchange, leg,
                                          worker.gateway, expects_continue, client_keep_alive);
    }
    // HTTP/2 towards an upstream that speaks it (upstream_h2_exchange.hpp); a WebSocket too, as
    // an extended CONNECT when the upstream takes it.
    if (upstream_h2_first(worker, plan)) {
        co_return co_await forward_choosing_protocol(client, client_buffer, incoming, plan,
                                                     exchange, *runtime, worker, expects_continue,
                                                     client_keep_alive, te_trailers);
    }
    TlsUpstreamLeg leg(worker, *runtime, *plan.service, plan.upstream_host, plan.upstream_port);
    co_return co_await relay_exchange(client, client_buffer, incoming, plan, exchange, leg,
                                      worker.gateway, expects_continue, client_keep_alive);
}

}  // namespace cloakroom::proxy

#include "proxy/upstream_h2_exchange.hpp"  // IWYU pragma: export
