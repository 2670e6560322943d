#include "proxy/listen.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/error.hpp>

namespace cloakroom::proxy {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string endpoint_text(const tcp::endpoint& endpoint) {
    const auto address = endpoint.address();
    return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
           std::to_string(endpoint.port());
}

Error listen_error(const config::ListenerConfig& listener, const boost::system::error_code& ec) {
    std::string message = "cannot listen on " + listener.address + ": ";
    if (ec == net::error::address_in_use) {
        message +=
            "address already in use (another process, perhaps another `cloakroom serve`, is "
            "listening there)";
    } else {
        message += ec.message();
    }
    return make_error("serve.listen", message);
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
    if (ios.empty()) return make_error("serve.listen", "no worker to listen on");
    const tcp::endpoint endpoint(address, listener.port);
    auto first = std::make_unique<tcp::acceptor>(*ios.front());
    first->open(endpoint.protocol(), ec);
    // SO_REUSEADDR only lets the bind ignore connections of an earlier run still in TIME_WAIT;
    // on Linux it never lets two sockets listen on one address (SO_REUSEPORT would).
    if (!ec) first->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) first->bind(endpoint, ec);
    if (!ec) first->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return listen_error(listener, ec);
    const tcp::endpoint local = first->local_endpoint(ec);
    if (ec) return listen_error(listener, ec);
    const int fd = first->native_handle();
    bound.acceptors.push_back(std::move(first));
    for (std::size_t i = 1; i < ios.size(); ++i) {
        const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) {
            return listen_error(listener,
                                boost::system::error_code(errno, boost::system::system_category()));
        }
        auto acceptor = std::make_unique<tcp::acceptor>(*ios[i]);
        acceptor->assign(local.protocol(), copy, ec);
        if (ec) {
            ::close(copy);
            return listen_error(listener, ec);
        }
        bound.acceptors.push_back(std::move(acceptor));
    }
    bound.address = endpoint_text(local);
    return bound;
}

std::string peer_address(const tcp::socket& socket) {
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("?") : endpoint_text(endpoint);
}

}  // namespace cloakroom::proxy
