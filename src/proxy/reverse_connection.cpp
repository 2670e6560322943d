// One agent connection on the reverse base-URL listener: plain HTTP/1.1 on loopback, each
// request routed by its first path segment (route_reverse) and sent through the same pipeline
// as intercepted requests (forward_request). Keep-alive: one connection may address several
// services in turn; each request is routed on its own.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>

#include "proxy/connection.hpp"
#include "proxy/connection_forward.hpp"
#include "proxy/connection_read.hpp"
#include "proxy/listen.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/route_reverse.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

net::awaitable<void> run_reverse_connection(tcp::socket socket, Worker& worker) {
    Gateway& gateway = worker.gateway;
    const std::string client = peer_address(socket);
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    PlainStream stream(std::move(socket));
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        IncomingRequest incoming;
        const bool ok = co_await read_request_head(
            stream, buffer, incoming, gateway,
            first ? gateway.timeouts.first_header : gateway.timeouts.idle);
        if (!ok) co_return;
        first = false;
        http::Head& request = *incoming.head;
        auto runtime = gateway.runtime.get();
        if (request.method() == "CONNECT") {
            co_await write_error(stream, 405, "method_not_allowed",
                                 "this is Cloakroom's reverse base-URL listener; send CONNECT to "
                                 "the forward proxy listener",
                                 incoming.version(), false);
            co_return;
        }
        const ReverseRoute reverse = route_reverse(runtime->config, request.target());
        if (reverse.route.kind != RouteKind::Intercept) {
            co_await write_error(stream, reverse.route.status, reverse.route.error,
                                 reverse.route.reason, incoming.version(), false);
            co_return;
        }
        request.set_target(reverse.target);
        RequestContext context;
        context.runtime = runtime;
        context.route = reverse.route;
        context.reverse = true;
        context.client = client;
        if (!co_await forward_request(stream, buffer, incoming, context, worker)) co_return;
    }
}

}  // namespace cloakroom::proxy
