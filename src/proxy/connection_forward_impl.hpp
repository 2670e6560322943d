// Template implementation of connection_forward.hpp (included from there only).
#pragma once

#include <string.h>  // explicit_bzero
#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <ctime>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "http/head_text.hpp"
#include "policy/request_path.hpp"
#include "proxy/audit.hpp"
#include "proxy/connection_head.hpp"
#include "proxy/connection_relay.hpp"
#include "proxy/error_response.hpp"
#include "proxy/injection.hpp"
#include "proxy/injection_cache.hpp"
#include "proxy/io_now.hpp"
#include "proxy/redactor.hpp"
#include "proxy/request_auth.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy {
namespace forward_detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using cloakroom::ascii_iequals;

// The fixed hop-by-hop fields (RFC 9110 §7.6.1), plus Cloakroom's own Proxy-* fields. Runs for
// every field of every request and response, so it looks at the length first.
inline bool is_hop_by_hop(std::string_view name) {
    switch (name.size()) {
        case 2:
            return ascii_iequals(name, "TE");
        case 7:
            return ascii_iequals(name, "Trailer") || ascii_iequals(name, "Upgrade");
        case 10:
            return ascii_iequals(name, "Connection") || ascii_iequals(name, "Keep-Alive");
        case 16:
            return ascii_iequals(name, "Proxy-Connection");
        case 18:
            return ascii_iequals(name, "Proxy-Authenticate");
        case 19:
            return ascii_iequals(name, "Proxy-Authorization");
        default:
            return false;
    }
}

// The field names the Connection fields of a head mark hop-by-hop, each element once, never
// the framing or routing fields we depend on. Split once per head: most heads name only
// connection options ("keep-alive", "close"), so a few inline slots hold them and each field
// is then checked against them by length first.
class ConnectionNames {
  public:
    explicit ConnectionNames(const http::Head& head) {
        for (const http::HeadField& field : head.fields()) {
            if (field.name.size() != 10 || !ascii_iequals(field.name, "Connection")) continue;
            std::string_view list = field.value;
            while (!list.empty()) {
                const std::size_t comma = list.find(',');
                const std::string_view element = http::detail::trim_ows(list.substr(0, comma));
                if (!element.empty() && !http::detail::is_framing_field(element)) add(element);
                if (comma == std::string_view::npos) break;
                list.remove_prefix(comma + 1);
            }
        }
    }

    bool empty() const { return count_ == 0; }

    bool contains(std::string_view name) const {
        for (std::size_t i = 0; i < count_; ++i) {
            const std::string_view element =
                i < inline_.size() ? inline_[i] : more_[i - inline_.size()];
            if (element.size() == name.size() && ascii_iequals(element, name)) return true;
        }
        return false;
    }

  private:
    void add(std::string_view element) {
        if (count_ < inline_.size()) {
            inline_[count_] = element;
        } else {
            more_.push_back(element);
        }
        ++count_;
    }

    std::array<std::string_view, 6> inline_{};
    std::vector<std::string_view> more_;  // only for a head naming more than 6
    std::size_t count_ = 0;
};

// Hop-by-hop fields never cross the proxy, including any named in Connection (never the
// framing or routing fields we depend on).
inline void remove_hop_by_hop(http::Head& head) {
    // Views into the head's storage, which erase_if leaves alone.
    const ConnectionNames named(head);
    if (named.empty()) {
        head.erase_if([](const http::HeadField& field) { return is_hop_by_hop(field.name); });
        return;
    }
    head.erase_if([&](const http::HeadField& field) {
        return is_hop_by_hop(field.name) || named.contains(field.name);
    });
}

// Overwrites text that held the injected credential before its buffer is reused or freed.
inline void wipe(std::string& text) {
    if (!text.empty()) explicit_bzero(text.data(), text.size());
    text.clear();
}

// Wipes a string that holds the injected credential when the scope ends, on every path out.
struct WipeOnExit {
    explicit WipeOnExit(std::string& wiped) : text(wiped) {}
    std::string& text;
    WipeOnExit(const WipeOnExit&) = delete;
    WipeOnExit& operator=(const WipeOnExit&) = delete;
    ~WipeOnExit() { wipe(text); }
};

inline std::uint64_t micros_since(std::chrono::steady_clock::time_point start) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count());
}

inline std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Splits an origin-form or absolute-form target into the origin-form part.
inline std::string_view origin_form(std::string_view target, bool absolute_form) {
    if (!absolute_form) return target;
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return target;
    const auto path_start = target.find_first_of("/?", scheme_end + 3);
    if (path_start == std::string_view::npos) return "/";
    if (target[path_start] == '?') return target.substr(path_start);  // "http://h?q" → "?q"
    return target.substr(path_start);
}

}  // namespace forward_detail

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

template <class ClientStream>
boost::asio::awaitable<bool> forward_request(ClientStream& client,
                                             boost::beast::flat_buffer& client_buffer,
                                             IncomingRequest& incoming,
                                             const RequestContext& context, Worker& worker) {
    using namespace forward_detail;
    const auto started = std::chrono::steady_clock::now();
    const Runtime& runtime = *context.runtime;
    const Gateway& gateway = worker.gateway;
    http::Head& request = *incoming.head;
    const unsigned version = incoming.version();
    const bool body_pending = incoming.body_pending();
    const bool client_keep_alive = request.keep_alive();

    AuditRecord audit;
    audit.time_ms = now_ms();
    audit.client = context.client;
    const config::Service* service_ptr = context.route.service;
    audit.service = service_ptr != nullptr ? service_ptr->name : "";
    audit.host = context.route.host;
    audit.method = std::string(request.method());

    // A request we refuse before reading its body ends the connection: the unread body would
    // otherwise be parsed as the next request.
    auto refuse = [&](unsigned status, std::string_view error,
                      std::string_view reason) -> net::awaitable<bool> {
        audit.status = status;
        audit.decision = "deny";
        audit.reason = std::string(reason);
        audit.duration_us = micros_since(started);
        runtime.audit->write(audit);
        const bool keep = client_keep_alive && !body_pending;
        co_return co_await write_error(client, status, error, reason, version, keep);
    };

    // 1. The request must be for the host this connection was opened to.
    if (context.sni_mismatch) {
        co_return co_await refuse(
            421, "misdirected_request",
            "TLS server name does not match the CONNECT target '" + context.route.host + "'");
    }
    if (!context.reverse) {
        if (auto mismatch = check_host_header(context.route, request["Host"])) {
            co_return co_await refuse(421, "misdirected_request", *mismatch);
        }
    }

    // 2. The path every rule and caveat sees, and exactly the one sent upstream.
    const auto raw_target = origin_form(request.target(), context.absolute_form);
    auto normalized = policy::normalize_target(raw_target);
    if (!normalized.ok()) co_return co_await refuse(400, "bad_request", normalized.error().message);
    audit.path = normalized->path;

    if (service_ptr == nullptr) {
        co_return co_await refuse(
            403, "host_not_configured",
            "host '" + context.route.host + "' is not configured in Cloakroom");
    }
    const config::Service& service = *service_ptr;
    const config::Credential* credential = service.credential ? &*service.credential : nullptr;

    // 3. Authorize: service rules, then the token.
    std::string query = normalized->query;
    auto found = find_token(request, query, credential, runtime.config.token.prefix,
                            context.proxy_authorization);
    const AuthDecision decision =
        authorize(runtime.config, service, context.route.host, request, *normalized, found,
                  runtime.keys, static_cast<std::int64_t>(std::time(nullptr)),
                  runtime.config.gateway.strict, runtime.verify_cache.get());
    audit.token_id = decision.token_id;
    if (decision.kind == AuthDecision::Reject) {
        co_return co_await refuse(decision.status, decision.error, decision.reason);
    }

    // 4. Injection: every secret resolved before the request is touched.
    // The plan is reused across requests while the resolved secrets stay the same
    // (injection_cache.hpp); the secrets themselves are resolved for every request.
    std::shared_ptr<const PreparedInjection> prepared;
    if (decision.kind == AuthDecision::Inject) {
        auto planned = prepare_injection(context.runtime, *credential, *runtime.resolver);
        if (!planned.ok()) {
            co_return co_await refuse(
                502, "credential_unavailable",
                "the credential for this host cannot be loaded: " + planned.error().message);
        }
        prepared = std::move(*planned);
    }
    const InjectionPlan* plan = prepared ? &prepared->plan : nullptr;
    if (found) strip_token(request, query, *found);
    strip_proxy_headers(request);
    if (plan) apply_injection(request, query, *plan);
    const bool expects_continue = ascii_iequals(request["Expect"], "100-continue");
    remove_hop_by_hop(request);
    request.erase("Expect");
    if (plan) {
        // Redaction needs the response body as bytes; compressed bodies would hide the secret.
        request.set("Accept-Encoding", "identity");
    }
    std::string target = normalized->path;
    if (!query.empty() || normalized->has_query) target += "?" + query;
    request.set_target(target);
    const std::uint16_t upstream_port =
        context.upstream_port != 0 ? context.upstream_port : context.route.port;
    const std::string& upstream_host = context.route.host;
    if (upstream_port == 443) {
        request.set("Host", upstream_host);
    } else {
        request.set("Host", upstream_host + ":" + std::to_string(upstream_port));
    }
    request.set_keep_alive(true);
    const bool chunked_request = body_pending && request.chunked();

    // 5. Upstream connection: pooled or new; dial failures are clean errors.
    UpstreamTarget upstream_target{upstream_host, upstream_port, service.connect_to,
                                   service.allow_private};
    // Per thread and reused: written and read with no suspension in between.
    thread_local std::string pool_key;
    write_pool_key(pool_key, upstream_host, upstream_port, service.connect_to,
                   service.allow_private);
    std::unique_ptr<UpstreamConnection> upstream = worker.pool.take(pool_key);
    if (!upstream) {
        auto dialed = co_await dial_upstream(upstream_target, runtime.upstream_context(&service),
                                             gateway.timeouts.dial);
        if (auto* failure = std::get_if<DialFailure>(&dialed)) {
            co_return co_await refuse(failure->status, failure->error, failure->reason);
        }
        upstream = std::move(std::get<std::unique_ptr<UpstreamConnection>>(dialed));
    }

    if (expects_continue && body_pending) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        beast::error_code ec;
        co_await net::async_write(client, net::buffer(kContinue),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return false;
    }

    // 6. Send the request: head, then the body streamed as it arrives. 7. The response head,
    // validated like a request head (smuggling works both ways). A pooled connection can die
    // under us before the server saw anything (write failure, or EOF before any response byte);
    // a request without a body is then sent once more on a fresh connection.
    auto redial = [&]() -> net::awaitable<std::optional<DialFailure>> {
        auto dialed = co_await dial_upstream(upstream_target, runtime.upstream_context(&service),
                                             gateway.timeouts.dial);
        if (auto* failure = std::get_if<DialFailure>(&dialed)) co_return std::move(*failure);
        upstream = std::move(std::get<std::unique_ptr<UpstreamConnection>>(dialed));
        co_return std::nullopt;
    };
    beast::error_code ec;
    auto& client_layer = beast::get_lowest_layer(client);
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
            if (auto failure = co_await redial()) {
                co_return co_await refuse(failure->status, failure->error, failure->reason);
            }
            continue;
        }
        if (ec) {
            co_return co_await refuse(502, "upstream_unreachable",
                                      "sending the request upstream failed: " + ec.message());
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
            audit.decision = "error";
            audit.reason = "request body relay failed: " + ec.message();
            audit.status = 502;
            audit.duration_us = micros_since(started);
            runtime.audit->write(audit);
            co_return false;
        }
        response_head = co_await read_response_head(
            upstream->stream, upstream->buffer, gateway.limits, gateway.timeouts.upstream_response,
            head_request, response, response_body);
        if (!response_head.ok && may_retry && !response_head.got_bytes &&
            response_head.status != 504) {
            if (auto failure = co_await redial()) {
                co_return co_await refuse(failure->status, failure->error, failure->reason);
            }
            continue;
        }
        break;
    }
    if (!response_head.ok) {
        co_return co_await refuse(response_head.status, response_head.error, response_head.reason);
    }

    // 8. Stream the response back, redacting any injected secret the upstream echoes.
    const bool upstream_keep_alive = response.keep_alive();
    const bool length_known = response_body.length_known();
    const bool chunked_response = response_body.kind() == ResponseBody::Kind::Chunked;
    std::optional<Redactor> redactor;
    if (prepared && !prepared->needles.empty()) {
        redactor.emplace(prepared->needles.redactor());
        redact_header_values(response, prepared->needles);
    }
    remove_hop_by_hop(response);
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
        client_layer.expires_after(gateway.timeouts.body_idle);
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

    audit.status = response.status();
    audit.bytes_out = received.bytes;
    audit.decision = decision.kind == AuthDecision::Inject ? "allow" : "passthrough";
    audit.reason = ec ? "response relay failed: " + ec.message() : decision.reason;
    audit.duration_us = micros_since(started);
    runtime.audit->write(audit);

    if (!ec && upstream_keep_alive && response_body.is_done() && length_known) {
        worker.pool.put(std::move(upstream));
    }
    co_return !ec && keep;
}

}  // namespace cloakroom::proxy
