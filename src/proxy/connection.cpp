#include "proxy/connection.hpp"

#include <openssl/ssl.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <ctime>
#include <limits>
#include <optional>

#include "proxy/audit.hpp"
#include "proxy/connection_forward.hpp"
#include "proxy/connection_read.hpp"
#include "proxy/connection_relay.hpp"
#include "proxy/listen.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/route.hpp"
#include "proxy/tls_stream.hpp"
#include "proxy/tunnel.hpp"
#include "tls/contexts.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Absolute-form http:// to an [allow] host: no token, no credential, just a checked plain-HTTP
// forward (the upstream leg is closed after each response; allowed hosts are not a hot path).
net::awaitable<bool> forward_plain(PlainStream& client, beast::flat_buffer& buffer,
                                   IncomingRequest& incoming, const Route& route,
                                   const std::string& client_name, Worker& worker) {
    using namespace forward_detail;
    const Gateway& gateway = worker.gateway;
    auto runtime = gateway.runtime.get();
    http::Head& request = *incoming.head;
    const auto started = std::chrono::steady_clock::now();
    const bool body_pending = incoming.body_pending();
    const bool client_keep_alive = request.keep_alive();
    const unsigned version = incoming.version();

    AuditRecord audit;
    audit.time_ms = now_ms();
    audit.client = client_name;
    audit.host = route.host;
    audit.method = std::string(request.method());
    auto finish = [&](unsigned status, std::string decision, std::string reason) {
        audit.status = status;
        audit.decision = std::move(decision);
        audit.reason = std::move(reason);
        audit.duration_us = micros_since(started);
        runtime->audit->write(audit);
    };

    if (auto mismatch = check_host_header(route, request["Host"])) {
        finish(421, "deny", *mismatch);
        co_return co_await write_error(client, 421, "misdirected_request", *mismatch, version,
                                       client_keep_alive && !body_pending);
    }
    auto normalized = policy::normalize_target(origin_form(request.target(), true));
    if (!normalized.ok()) {
        finish(400, "deny", normalized.error().message);
        co_return co_await write_error(client, 400, "bad_request", normalized.error().message,
                                       version, false);
    }
    audit.path = normalized->path;
    auto dialed = co_await dial_tcp(route.host, route.port, /*allow_private=*/false,
                                    gateway.timeouts.dial.connect);
    if (auto* failure = std::get_if<DialFailure>(&dialed)) {
        finish(failure->status, "deny", failure->reason);
        co_return co_await write_error(client, failure->status, failure->error, failure->reason,
                                       version, client_keep_alive && !body_pending);
    }
    auto& upstream = std::get<beast::tcp_stream>(dialed);

    const bool expects_continue = ascii_iequals(request["Expect"], "100-continue");
    remove_hop_by_hop(request);
    request.erase("Expect");
    request.set_target(normalized->request_target());
    request.set_keep_alive(false);
    beast::error_code ec;
    if (expects_continue && body_pending) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(client, net::buffer(kContinue),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return false;
    }
    std::string request_head;
    request.append_request(request_head);
    upstream.expires_after(gateway.timeouts.body_idle);
    co_await net::async_write(upstream, net::buffer(request_head),
                              net::redirect_error(net::use_awaitable, ec));
    RelayResult sent;
    if (!ec && body_pending) {
        sent = co_await relay_request_body(client, buffer, *incoming.body, upstream,
                                           request.chunked(), gateway.timeouts.body_idle);
        ec = sent.ec;
    }
    audit.bytes_in = sent.bytes;
    if (ec) {
        finish(502, "error", "forwarding the request failed: " + ec.message());
        co_return co_await write_error(client, 502, "upstream_unreachable",
                                       "forwarding the request failed: " + ec.message(), version,
                                       false);
    }
    const bool head_request = request.method() == "HEAD";
    beast::flat_buffer upstream_buffer;
    HeadLease response_lease;
    http::Head& response = *response_lease;
    ResponseBody response_body;
    ResponseHead response_head = co_await read_response_head(
        upstream, upstream_buffer, gateway.limits, gateway.timeouts.upstream_response, head_request,
        response, response_body);
    if (!response_head.ok) {
        finish(response_head.status, "error", response_head.reason);
        co_return co_await write_error(client, response_head.status, response_head.error,
                                       response_head.reason, version, false);
    }
    const bool length_known = response_body.length_known();
    const bool chunked_response = response_body.kind() == ResponseBody::Kind::Chunked;
    remove_hop_by_hop(response);
    const bool keep = client_keep_alive && length_known;
    response.set_keep_alive(keep);
    response.set("Via", "1.1 cloakroom");
    std::string head;
    response.append_response(head);
    // The head goes at once (not with the first body bytes): a plain forward may be a stream.
    client.expires_after(gateway.timeouts.body_idle);
    co_await net::async_write(client, net::buffer(head),
                              net::redirect_error(net::use_awaitable, ec));
    RelayResult received;
    if (!ec) {
        received = co_await relay_response(upstream, upstream_buffer, response_body, client, {},
                                           chunked_response, nullptr, gateway.timeouts.body_idle);
        ec = received.ec;
    }
    audit.bytes_out = received.bytes;
    finish(response.status(), "forward",
           ec ? "response relay failed: " + ec.message() : route.reason);
    co_return !ec && keep;
}

// Requests inside an intercepted CONNECT: TLS to the agent with a leaf for the CONNECT host.
net::awaitable<void> serve_intercepted(PlainStream& stream, beast::flat_buffer& buffer,
                                       RequestContext context, Worker& worker) {
    Gateway& gateway = worker.gateway;
    auto leaf =
        gateway.leaves.get(context.route.host, static_cast<std::int64_t>(std::time(nullptr)));
    if (!leaf.ok()) co_return;  // the client already got 200; nothing sane to answer over TLS
    TlsStream tls(stream.release_socket(), gateway.server_tls.native_handle());
    if (!tls.ok() || !tls::use_leaf(tls.native_handle(), **leaf).ok()) co_return;

    beast::error_code ec;
    tls.expires_after(gateway.timeouts.tls_handshake);
    // Bytes the client sent right after CONNECT are the start of its TLS handshake.
    tls.set_early_input(buffer_view(buffer));
    buffer.consume(buffer.size());
    buffer.shrink_to_fit();  // the CONNECT head's 8 KiB would otherwise stay for the connection
    co_await tls.async_handshake(net::ssl::stream_base::server,
                                 net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;

    // Invariant 2: CONNECT authority = TLS SNI = Host. A client without SNI (IP literals) is
    // judged by Host alone.
    if (const char* sni = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
        context.sni_mismatch = !ascii_iequals(sni, context.route.host);
    }

    bool first = true;
    for (;;) {
        const auto head_timeout = first ? gateway.timeouts.first_header : gateway.timeouts.idle;
        const bool waited = buffer.size() == 0;
        if (waited) {
            // Idle: wait for the next request's first bytes with no read buffer of our own and
            // OpenSSL's freed (TlsStream::async_wait_input), and from this frame, so that no
            // deeper coroutine frame is held while the connection idles. Any failure shows
            // again on the read that follows.
            buffer.shrink_to_fit();
            tls.expires_after(head_timeout);
            co_await tls.async_wait_input(net::redirect_error(net::use_awaitable, ec));
        }
        IncomingRequest request;
        const bool ok =
            co_await read_request_head(tls, buffer, request, gateway, head_timeout, waited);
        if (!ok) break;
        first = false;
        context.runtime = gateway.runtime.get();  // each request sees the newest config
        if (!co_await forward_request(tls, buffer, request, context, worker)) break;
    }
    tls.expires_after(std::chrono::seconds(2));
    co_await tls.async_shutdown(net::redirect_error(net::use_awaitable, ec));
}

// Answers a CONNECT. Returns the context to intercept with (after "200 Connection
// established"), or nothing when the connection is done (refused, tunnelled, or failed). The
// caller then runs the TLS side itself, so this frame is not held while the connection lives.
net::awaitable<std::optional<RequestContext>> handle_connect(PlainStream& stream,
                                                             beast::flat_buffer& buffer,
                                                             const http::Head& request,
                                                             Worker& worker,
                                                             const std::string& client) {
    Gateway& gateway = worker.gateway;
    auto runtime = gateway.runtime.get();
    const unsigned version = 10 + request.minor_version();
    const auto started = std::chrono::steady_clock::now();
    const Route route = route_connect(runtime->config, request.target());

    AuditRecord audit;
    audit.time_ms = now_ms();
    audit.client = client;
    audit.host = route.host.empty() ? std::string(request.target().substr(0, 256)) : route.host;
    audit.method = "CONNECT";

    if (route.kind == RouteKind::Deny) {
        audit.decision = "deny";
        audit.status = route.status;
        audit.reason = route.reason;
        runtime->audit->write(audit);
        co_await write_error(stream, route.status, route.error, route.reason, version, false);
        co_return std::nullopt;
    }

    if (route.kind == RouteKind::Tunnel) {
        auto dialed = co_await dial_tcp(route.host, route.port, /*allow_private=*/false,
                                        gateway.timeouts.dial.connect);
        if (auto* failure = std::get_if<DialFailure>(&dialed)) {
            audit.decision = "deny";
            audit.status = failure->status;
            audit.reason = failure->reason;
            runtime->audit->write(audit);
            co_await write_error(stream, failure->status, failure->error, failure->reason, version,
                                 false);
            co_return std::nullopt;
        }
        auto& upstream = std::get<beast::tcp_stream>(dialed);
        beast::error_code ec;
        co_await net::async_write(stream, net::buffer(kConnectEstablished),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return std::nullopt;
        beast::tcp_stream client_stream(stream.release_socket());
        const TunnelBytes bytes =
            co_await relay_tunnel(client_stream, buffer, upstream, gateway.timeouts.body_idle);
        audit.decision = "tunnel";
        audit.status = 200;
        audit.bytes_in = bytes.client_to_upstream;
        audit.bytes_out = bytes.upstream_to_client;
        audit.duration_us =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count());
        runtime->audit->write(audit);
        co_return std::nullopt;
    }

    // Intercept: a service host is always inspected (invariant 3).
    RequestContext context;
    context.runtime = runtime;
    context.route = route;
    context.client = client;
    if (auto value = request.find("Proxy-Authorization")) {
        context.proxy_authorization = std::string(*value);
    }
    beast::error_code ec;
    co_await net::async_write(stream, net::buffer(kConnectEstablished),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    co_return context;
}

}  // namespace

net::awaitable<void> run_client_connection(tcp::socket socket, Worker& worker) {
    Gateway& gateway = worker.gateway;
    const std::string client = peer_address(socket);
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    PlainStream stream(std::move(socket));
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        // Optional: a CONNECT hands its head back before the connection turns into a tunnel.
        std::optional<IncomingRequest> incoming(std::in_place);
        const bool ok = co_await read_request_head(
            stream, buffer, *incoming, gateway,
            first ? gateway.timeouts.first_header : gateway.timeouts.idle);
        if (!ok) co_return;
        first = false;
        const http::Head& request = *incoming->head;
        if (request.method() == "CONNECT") {
            auto intercept = co_await handle_connect(stream, buffer, request, worker, client);
            if (!intercept) co_return;
            // The CONNECT request is done with; its head goes back to the pool instead of
            // staying with this frame for as long as the connection lives.
            incoming.reset();
            co_await serve_intercepted(stream, buffer, std::move(*intercept), worker);
            co_return;
        }
        const std::string_view target = request.target();
        auto runtime = gateway.runtime.get();
        if (!target.starts_with("http://")) {
            co_await write_error(
                stream, 400, "bad_request",
                target.starts_with("https://")
                    ? "send https:// requests through CONNECT (set HTTPS_PROXY), not absolute-form"
                    : "Cloakroom is a forward proxy: use CONNECT or an absolute http:// URL",
                incoming->version(), false);
            co_return;
        }
        const std::string_view rest = target.substr(7);
        const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
        const Route route = route_absolute(runtime->config, "http", authority);
        if (route.kind == RouteKind::Deny) {
            co_await write_error(stream, route.status, route.error, route.reason,
                                 incoming->version(), false);
            co_return;
        }
        if (route.kind == RouteKind::Tunnel) {
            if (!co_await forward_plain(stream, buffer, *incoming, route, client, worker)) {
                co_return;
            }
            continue;
        }
        RequestContext context;
        context.runtime = runtime;
        context.route = route;
        // A service host is an HTTPS API: the upstream leg is always verified TLS.
        context.upstream_port = route.port == 80 ? 443 : route.port;
        context.absolute_form = true;
        context.client = client;
        if (auto value = request.find("Proxy-Authorization")) {
            context.proxy_authorization = std::string(*value);
        }
        if (!co_await forward_request(stream, buffer, *incoming, context, worker)) co_return;
    }
}

}  // namespace cloakroom::proxy
