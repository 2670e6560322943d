// The reverse base-URL front end: plain HTTP/1.1 on loopback, each request routed by its first
// path segment (route_reverse) into a Target and sent through the same exchange pipeline as
// every other front end. Keep-alive: one connection may address several services in turn; each
// request is routed on its own.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/connection.hpp"
#include "proxy/connection_read.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/route_reverse.hpp"
#include "proxy/target.hpp"
#include "runtime/peer_address.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

net::awaitable<void> run_reverse_connection(tcp::socket socket, Worker& worker) {
    Gateway& gateway = worker.gateway;
    const std::string client = runtime::peer_address(socket);
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    PlainStream stream(std::move(socket));
    ConnectionSessions sessions(gateway.sessions.get(), stream.socket());
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        IncomingRequest incoming;
        const bool ok = co_await read_request_head(
            stream, buffer, incoming, gateway, client,
            first ? gateway.timeouts.first_header : gateway.timeouts.idle);
        if (!ok) co_return;
        first = false;
        http::Head& request = *incoming.head;
        auto runtime = gateway.runtime.get();
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
        } else {
            ReverseRoute reverse = route_reverse(runtime->config, request.target());
            target.route = std::move(reverse.route);
            target.upstream_port = target.route.port;
            if (target.route.kind == RouteKind::Intercept) request.set_target(reverse.target);
        }
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
