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
    exchange.refuse(refusal);
    exchange.finish();
    co_return co_await write_error(stream, refusal.status, refusal.error, refusal.reason, version,
                                   keep_alive);
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
    using Connection = typename Leg::Connection;
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

    std::unique_ptr<Connection> upstream;
    {
        auto opened = co_await leg.open();
        if (auto* failure = std::get_if<runtime::Refusal>(&opened)) {
            co_return co_await refuse_upstream(*failure);
        }
        upstream = std::move(std::get<std::unique_ptr<Connection>>(opened));
    }

    if (expects_continue && body_pending) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        beast::error_code ec;
        co_await net::async_write(client, net::buffer(kContinue),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return false;
    }

    // Send the head, then the body streamed as it arrives; then the response head, validated
    // like a request head (smuggling works both ways). A pooled connection can die under us
    // before the server saw anything (write failure, or EOF before any response byte); a request
    // without a body is then sent once more on a fresh connection.
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
    ResponseHead response_head;
    for (bool retried = false;; retried = true) {
        const bool may_retry = upstream->reused && !body_pending && !retried;
        ec = {};
        beast::get_lowest_layer(upstream->stream).expires_after(gateway.timeouts.body_idle);
        const net::const_buffer head_bytes = net::buffer(request_head.text());
        std::size_t written = 0;
        if (!write_all_now(upstream->stream, head_bytes, written, ec)) {
            co_await net::async_write(upstream->stream, suffix_after(head_bytes, written),
                                      net::redirect_error(net::use_awaitable, ec));
        }
        if (ec && may_retry) {
            auto redialed = co_await leg.dial();
            if (auto* failure = std::get_if<runtime::Refusal>(&redialed)) {
                co_return co_await refuse_upstream(*failure);
            }
            upstream = std::move(std::get<std::unique_ptr<Connection>>(redialed));
            continue;
        }
        if (ec) {
            const runtime::Refusal failure{502, "upstream_unreachable",
                                           "sending the request upstream failed: " + ec.message()};
            co_return co_await refuse_upstream(failure);
        }
        RelayResult sent;
        if (body_pending) {
            sent =
                co_await relay_request_body(client, client_buffer, *incoming.body, upstream->stream,
                                            chunked_request, gateway.timeouts.body_idle);
        }
        ec = sent.ec;
        audit.bytes_in = sent.bytes;
        if (ec) {
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
        response_head = co_await read_response_head(
            upstream->stream, upstream->buffer, gateway.limits, gateway.timeouts.upstream_response,
            head_request, response, response_body);
        if (!response_head.ok && may_retry && !response_head.got_bytes &&
            response_head.status != 504) {
            auto redialed = co_await leg.dial();
            if (auto* failure = std::get_if<runtime::Refusal>(&redialed)) {
                co_return co_await refuse_upstream(*failure);
            }
            upstream = std::move(std::get<std::unique_ptr<Connection>>(redialed));
            continue;
        }
        break;
    }
    if (!response_head.ok) {
        const runtime::Refusal failure{response_head.status, response_head.error,
                                       response_head.reason};
        co_return co_await refuse_upstream(failure);
    }

    // Stream the response back, redacting the service's secrets wherever the upstream echoes
    // them (invariant 1), whatever this request carried.
    const bool upstream_keep_alive = response.keep_alive();
    const bool length_known = response_body.length_known();
    const bool chunked_response = response_body.kind() == ResponseBody::Kind::Chunked;
    std::optional<Redactor> redactor;
    if (plan.redacts()) {
        // Every part of the head the upstream chose: reason phrase, names, values. A secret
        // spread across two parts cannot be starred without breaking the head: not relayed.
        if (!redact_response_head(response, plan.redaction->needles)) {
            const runtime::Refusal failure{
                502, "upstream_bad_response",
                "the upstream's response head echoes the credential across fields; not relayed"};
            co_return co_await refuse_upstream(failure);
        }
        redactor.emplace(plan.redaction->needles.redactor());
    }
    http::remove_hop_by_hop(response);
    const bool keep = client_keep_alive && length_known;
    response.set_keep_alive(keep);
    response.set("Via", "1.1 cloakroom");

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
        received = co_await relay_response(
            upstream->stream, upstream->buffer, response_body, client, head, chunked_response,
            redactor ? &*redactor : nullptr, gateway.timeouts.body_idle);
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

// One request, start to end. `runtime` is the snapshot this request runs under. `sessions`
// (may be null) is the agent connection's: an allowed token is registered there, so that its
// revocation ends the connection. Returns true when the agent's connection may carry another
// request.
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
    AuditRecord& audit = exchange.record();
    audit.host = target.route.host;
    audit.service = target.route.service != nullptr ? target.route.service->name : "";
    audit.method.assign(request.method());

    RefusalFacts facts;
    PlanOutcome outcome = plan_request(*runtime, target, request,
                                       static_cast<std::int64_t>(std::time(nullptr)), &facts);
    if (auto* refusal = std::get_if<Refusal>(&outcome)) {
        audit.token_id = std::move(facts.token_id);
        audit.path = std::move(facts.path);
        co_return co_await answer_refusal(client, exchange, *refusal, incoming.version(),
                                          client_keep_alive && !incoming.body_pending());
    }
    RequestPlan& plan = std::get<RequestPlan>(outcome);
    audit.path = plan.path;
    audit.token_id = plan.token_id;
    if (sessions != nullptr) sessions->note(plan.token_id, plan.token_minted);

    // The service's secrets: resolved here, after the request was authorized, and off the event
    // loop when a helper process may take its time, so that it stalls no other connection.
    if (plan.credential != nullptr) {
        PreparedCredential prepared;
        if (prepares_slowly(*plan.credential)) {
            prepared =
                co_await prepare_off_loop(worker.gateway.blocking, runtime, *plan.credential);
        } else {
            prepared = prepare_credential(runtime, *plan.credential);
        }
        if (auto refusal = attach_credential(plan, std::move(prepared))) {
            co_return co_await answer_refusal(client, exchange, *refusal, incoming.version(),
                                              client_keep_alive && !incoming.body_pending());
        }
    }

    const bool expects_continue = ascii_iequals(request["Expect"], "100-continue");
    apply_plan(plan, request);
    if (!plan.upstream_tls) {
        PlainUpstreamLeg leg(worker.gateway, plan.upstream_host, plan.upstream_port);
        co_return co_await relay_exchange(client, client_buffer, incoming, plan, exchange, leg,
                                          worker.gateway, expects_continue, client_keep_alive);
    }
    TlsUpstreamLeg leg(worker, *runtime, *plan.service, plan.upstream_host, plan.upstream_port);
    co_return co_await relay_exchange(client, client_buffer, incoming, plan, exchange, leg,
                                      worker.gateway, expects_continue, client_keep_alive);
}

}  // namespace cloakroom::proxy
