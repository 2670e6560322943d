// The reverse base-URL front end: plain HTTP on loopback, each request routed by its authority
// or its first path segment (route_reverse) into a Target and sent through the same exchange
// pipeline as every other front end. Keep-alive: one connection may address several services in
// turn; each request is routed on its own.
//
// A connection that opens with the HTTP/2 preface (h2c with prior knowledge, RFC 9113 §3.3: gRPC
// clients, `curl --http2-prior-knowledge`) is served by the HTTP/2 front end (h2/front_end.hpp)
// over the same plain stream, each stream routed on its own by the same rules; anything else is
// HTTP/1.1 on the same port.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string_view>

#include "proxy/connection.hpp"
#include "proxy/connection_read.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/h2/front_end.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/route_reverse.hpp"
#include "proxy/target.hpp"
#include "runtime/peer_address.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class Opening { Http1, Http2, Closed };

// Reads until the first bytes tell the HTTP/2 preface from anything else; what was read stays in
// `buffer` for the protocol that takes it. The caller armed the first-header deadline.
net::awaitable<Opening> read_opening(PlainStream& stream, beast::flat_buffer& buffer) {
    for (;;) {
        const std::string_view seen = buffer_view(buffer);
        const std::size_t n = std::min(seen.size(), kH2Preface.size());
        if (seen.substr(0, n) != kH2Preface.substr(0, n)) co_return Opening::Http1;
        if (n == kH2Preface.size()) co_return Opening::Http2;
        beast::error_code ec;
        const std::size_t got = co_await stream.async_read_some(
            buffer.prepare(4096), net::redirect_error(net::use_awaitable, ec));
        buffer.commit(got);
        if (ec) co_return buffer.size() == 0 ? Opening::Closed : Opening::Http1;
    }
}

// One request's Target on this listener, HTTP/1.1 and HTTP/2 alike; an Intercept rewrites the
// request's target to what goes upstream.
Target reverse_target(const config::Config& config, http::Head& request,
                      const std::string& client) {
    Target target;
    target.front_end = FrontEnd::Reverse;
    target.client = client;
    if (request.method() == "CONNECT") {
        target.route.kind = RouteKind::Deny;
        target.route.status = 405;
        target.route.error = "method_not_allowed";
        target.route.reason =
            "this is Cloakroom's reverse base-URL listener; send CONNECT to the forward "
            "proxy listener";
        return target;
    }
    ReverseRoute reverse = route_reverse(config, request.target(), request["Host"]);
    target.route = std::move(reverse.route);
    target.upstream_port = target.route.port;
    if (target.route.kind == RouteKind::Intercept) request.set_target(reverse.target);
    return target;
}

}  // namespace

net::awaitable<void> run_reverse_connection(tcp::socket socket, Worker& worker) {
    Gateway& gateway = worker.gateway;
    const std::string client = runtime::peer_address(socket);
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    PlainStream stream(std::move(socket));
    ConnectionSessions sessions(gateway.sessions.get(), stream.socket());
    beast::flat_buffer buffer;

    stream.expires_after(gateway.timeouts.first_header);
    const Opening opening = co_await read_opening(stream, buffer);
    if (opening == Opening::Closed) co_return;
    if (opening == Opening::Http2) {
        Target connection;
        connection.front_end = FrontEnd::Reverse;
        connection.client = client;
        h2::StreamRouter route = [client](const Runtime& runtime, http::Head& request) {
            return reverse_target(runtime.config, request, client);
        };
        const std::string received(buffer_view(buffer));
        buffer.consume(buffer.size());
        co_await h2::serve_h2c(stream, received, connection, std::move(route), worker, &sessions);
        co_return;
    }

    bool first = true;
    for (;;) {
        IncomingRequest incoming;
        // The first head's deadline was armed before the opening bytes were read.
        const bool ok = co_await read_request_head(
            stream, buffer, incoming, gateway, client,
            first ? gateway.timeouts.first_header : gateway.timeouts.idle, first);
        if (!ok) co_return;
        first = false;
        auto runtime = gateway.runtime.get();
        const Target target = reverse_target(runtime->config, *incoming.head, client);
        // A refused request ends the connection, as a refused route always has here.
        const bool refused = target.route.kind != RouteKind::Intercept;
        if (!co_await forward_request(stream, buffer, incoming, target, runtime, worker,
                                      &sessions) ||
            refused) {
            co_return;
        }
    }
}

}  // namespace cloakroom::proxy
