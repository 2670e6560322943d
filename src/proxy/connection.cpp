// The forward-proxy front end: CONNECT (refused, blind tunnel to an [allow] host, or
// intercepted: intercepted_connection.hpp) and absolute-form http://
// requests. Each computes a Target from the connection and hands every request to the one
// exchange pipeline (exchange_pipeline.hpp).
#include "proxy/connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <exception>
#include <optional>

#include "proxy/connection_read.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/intercepted_connection.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/route.hpp"
#include "proxy/target.hpp"
#include "proxy/tunnel.hpp"
#include "runtime/exchange.hpp"
#include "runtime/peer_address.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

Route refused_route(unsigned status, std::string error, std::string reason) {
    Route route;
    route.kind = RouteKind::Deny;
    route.status = status;
    route.error = std::move(error);
    route.reason = std::move(reason);
    return route;
}

// Answers a CONNECT. Returns the target to intercept (after "200 Connection established"), or
// nothing when the connection is done (refused, tunnelled, or failed). The caller then runs the
// TLS side itself, so this frame is not held while the connection lives.
net::awaitable<std::optional<Target>> handle_connect(PlainStream& stream,
                                                     beast::flat_buffer& buffer,
                                                     const http::Head& request, Worker& worker,
                                                     const std::string& client) {
    Gateway& gateway = worker.gateway;
    auto runtime = gateway.runtime.get();
    const unsigned version = 10 + request.minor_version();
    Route route = route_connect(runtime->config, request.target());

    if (route.kind == RouteKind::Intercept) {
        // A service host is always inspected (invariant 3); its requests are the exchanges.
        Target target;
        target.front_end = FrontEnd::Connect;
        target.upstream_port = route.port;
        target.route = std::move(route);
        target.routed_by = runtime;  // route points into its config
        target.client = client;
        if (auto value = request.find("Proxy-Authorization")) {
            target.proxy_authorization = std::string(*value);
        }
        beast::error_code ec;
        co_await net::async_write(stream, net::buffer(kConnectEstablished),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return std::nullopt;
        co_return target;
    }

    runtime::Exchange exchange(runtime->audit, runtime::kAuditTunnel, client);
    AuditRecord& audit = exchange.record();
    audit.host = route.host.empty() ? std::string(request.target().substr(0, 256)) : route.host;
    audit.method = "CONNECT";
    if (route.kind == RouteKind::Deny) {
        const runtime::Refusal refusal{route.status, route.error, route.reason};
        co_await answer_refusal(stream, exchange, refusal, version, false);
        co_return std::nullopt;
    }

    // [allow] host: a blind tunnel, to a checked public address only.
    auto dialed = co_await dial_tcp(route.host, route.port, /*allow_private=*/false,
                                    gateway.timeouts.dial.connect);
    if (auto* failure = std::get_if<DialFailure>(&dialed)) {
        const runtime::Refusal refusal = refusal_of(std::move(*failure));
        co_await answer_refusal(stream, exchange, refusal, version, false);
        co_return std::nullopt;
    }
    auto& upstream = std::get<beast::tcp_stream>(dialed);
    beast::error_code ec;
    co_await net::async_write(stream, net::buffer(kConnectEstablished),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        exchange.fail(200, "the agent went away before the tunnel opened: " + ec.message());
        co_return std::nullopt;
    }
    beast::tcp_stream client_stream(stream.release_socket());
    const TunnelBytes bytes =
        co_await relay_tunnel(client_stream, buffer, upstream, gateway.timeouts.body_idle);
    audit.bytes_in = bytes.client_to_upstream;
    audit.bytes_out = bytes.upstream_to_client;
    exchange.complete(200, runtime::kTunnel, route.reason);
    co_return std::nullopt;
}

// The Target of an absolute-form request ("GET http://host/path"): its URL names the host. A
// target that is not an http:// URL is refused through the same pipeline (and audited).
Target absolute_form_target(const config::Config& config, std::string_view request_target,
                            std::optional<std::string> proxy_authorization,
                            const std::string& client) {
    Target target;
    target.front_end = FrontEnd::AbsoluteForm;
    target.client = client;
    target.proxy_authorization = std::move(proxy_authorization);
    if (!request_target.starts_with("http://")) {
        target.route = refused_route(
            400, "bad_request",
            request_target.starts_with("https://")
                ? "send https:// requests through CONNECT (set HTTPS_PROXY), not absolute-form"
                : "Cloakroom is a forward proxy: use CONNECT or an absolute http:// URL");
        return target;
    }
    const std::string_view rest = request_target.substr(7);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    target.route = route_absolute(config, "http", authority);
    // A service host is an HTTPS API: the upstream leg is always verified TLS.
    if (target.route.kind == RouteKind::Intercept) {
        target.upstream_port = target.route.port == 80 ? 443 : target.route.port;
    } else {
        target.upstream_port = target.route.port;
    }
    return target;
}

// As the accept loop reports a connection coroutine that ended by an exception.
void log_internal_error(std::exception_ptr error) {
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        spdlog::warn("forward proxy: connection ended by an internal error: {}", e.what());
    }
}

}  // namespace

net::awaitable<void> run_client_connection(tcp::socket socket, Worker& worker) {
    Gateway& gateway = worker.gateway;
    const std::string client = runtime::peer_address(socket);
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    PlainStream stream(std::move(socket));
    ConnectionSessions sessions(gateway.sessions.get(), stream.socket());
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        // Optional: a CONNECT hands its head back before the connection turns into a tunnel.
        std::optional<IncomingRequest> incoming(std::in_place);
        const bool ok = co_await read_request_head(
            stream, buffer, *incoming, gateway, client,
            first ? gateway.timeouts.first_header : gateway.timeouts.idle);
        if (!ok) co_return;
        first = false;
        const http::Head& request = *incoming->head;
        if (request.method() == "CONNECT") {
            sessions.clear();  // the socket moves on to the tunnel or TLS, which register anew
            auto intercept = co_await handle_connect(stream, buffer, request, worker, client);
            if (!intercept) co_return;
            // The CONNECT request is done with; its head goes back to the pool.
            incoming.reset();
            // The intercepted connection goes on in a coroutine of its own and this frame ends:
            // awaiting it here would keep this frame (~1.5 KiB: the CONNECT's stream, buffer,
            // sessions, locals) allocated for as long as the agent keeps the connection open,
            // idle or not. Same thread (executor), so nothing else changes.
            const auto executor = stream.socket().get_executor();
            net::co_spawn(executor,
                          serve_intercepted(stream.release_socket(), std::move(buffer),
                                            std::move(*intercept), worker),
                          log_internal_error);
            co_return;
        }
        auto runtime = gateway.runtime.get();
        std::optional<std::string> proxy_authorization;
        if (auto value = request.find("Proxy-Authorization")) {
            proxy_authorization = std::string(*value);
        }
        const Target target = absolute_form_target(runtime->config, request.target(),
                                                   std::move(proxy_authorization), client);
        if (!co_await forward_request(stream, buffer, *incoming, target, runtime, worker,
                                      &sessions)) {
            co_return;
        }
    }
}

}  // namespace cloakroom::proxy
