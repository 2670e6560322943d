#include "serve/listen.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include <boost/asio/error.hpp>

#include "runtime/peer_address.hpp"

namespace cloakroom::serve {
namespace net = boost::asio;
using tcp = net::ip::tcp;

using runtime::endpoint_text;

namespace {

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

// Gives every io_context after the first an acceptor on a duplicate of the first one's socket.
std::optional<boost::system::error_code> add_copies(BoundAcceptors& bound, const tcp& protocol,
                                                    const std::vector<net::io_context*>& ios) {
    const int fd = bound.acceptors.front()->native_handle();
    for (std::size_t i = 1; i < ios.size(); ++i) {
        const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) return boost::system::error_code(errno, boost::system::system_category());
        auto acceptor = std::make_unique<tcp::acceptor>(*ios[i]);
        boost::system::error_code ec;
        acceptor->assign(protocol, copy, ec);
        if (ec) {
            ::close(copy);
            return ec;
        }
        bound.acceptors.push_back(std::move(acceptor));
    }
    return std::nullopt;
}

}  // namespace

Result<BoundAcceptors> adopt_acceptors(UniqueFd fd, const std::vector<net::io_context*>& ios) {
    if (ios.empty()) return make_error("serve.adopt", "no worker to accept on");
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6)) {
        return make_error("serve.adopt", "not a TCP/IP socket");
    }
    const tcp protocol = local.ss_family == AF_INET ? tcp::v4() : tcp::v6();
    BoundAcceptors bound;
    auto first = std::make_unique<tcp::acceptor>(*ios.front());
    boost::system::error_code ec;
    first->assign(protocol, fd.get(), ec);
    if (ec) return make_error("serve.adopt", "cannot adopt the socket: " + ec.message());
    fd.release();
    bound.acceptors.push_back(std::move(first));
    if (auto copies = add_copies(bound, protocol, ios); copies) {
        return make_error("serve.adopt", "cannot adopt the socket: " + copies->message());
    }
    const tcp::endpoint at = bound.acceptors.front()->local_endpoint(ec);
    bound.address = ec ? std::string("?") : endpoint_text(at);
    return bound;
}

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
    bound.acceptors.push_back(std::move(first));
    if (auto copies = add_copies(bound, local.protocol(), ios); copies) {
        return listen_error(listener, *copies);
    }
    bound.address = endpoint_text(local);
    return bound;
}

}  // namespace cloakroom::serve
