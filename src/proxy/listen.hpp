// Listening sockets shared by the proxy, reverse and database listeners: one acceptor per worker
// io_context on the same address (SO_REUSEPORT), so the kernel spreads connections over cores.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "util/result.hpp"

namespace cloakroom::proxy {

struct BoundAcceptors {
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;  // one per io_context
    std::string address;  // "127.0.0.1:PORT" / "[::1]:PORT" with the port actually bound
};

// Port 0 binds the first acceptor on a kernel-picked port and the others on that one.
// Errors: "serve.listen" naming the address and the system error.
Result<BoundAcceptors> bind_acceptors(const config::ListenerConfig& listener,
                                      const std::vector<boost::asio::io_context*>& ios);

// "ip:port" of a connected socket's peer ("[v6]:port"), "?" when unknown.
std::string peer_address(const boost::asio::ip::tcp::socket& socket);

}  // namespace cloakroom::proxy
