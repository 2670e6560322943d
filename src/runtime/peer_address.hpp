// How Cloakroom writes a socket address in logs and audit records: "ip:port", "[v6]:port".
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace cloakroom::runtime {

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// The connected socket's peer, "?" when unknown.
std::string peer_address(const boost::asio::ip::tcp::socket& socket);

}  // namespace cloakroom::runtime
