#include "proxy/listen.hpp"

#include <sys/socket.h>

namespace cloakroom::proxy {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string endpoint_text(const tcp::endpoint& endpoint) {
    const auto address = endpoint.address();
    return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
           std::to_string(endpoint.port());
}

}  // namespace

Result<BoundAcceptors> bind_acceptors(const config::ListenerConfig& listener,
                                      const std::vector<net::io_context*>& ios) {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(listener.host, ec);
    if (ec) {
        return make_error("serve.listen",
                          "listen address '" + listener.host + "' must be an IP address");
    }
    BoundAcceptors bound;
    std::uint16_t port = listener.port;
    for (net::io_context* io : ios) {
        auto acceptor = std::make_unique<tcp::acceptor>(*io);
        const tcp::endpoint endpoint(address, port);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) {
            const int one = 1;
            ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        }
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
        if (ec) {
            return make_error("serve.listen",
                              "cannot listen on " + listener.address + ": " + ec.message());
        }
        port = acceptor->local_endpoint().port();
        bound.acceptors.push_back(std::move(acceptor));
    }
    bound.address = endpoint_text(tcp::endpoint(address, port));
    return bound;
}

std::string peer_address(const tcp::socket& socket) {
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("?") : endpoint_text(endpoint);
}

}  // namespace cloakroom::proxy
