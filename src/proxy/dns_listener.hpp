// The DNS responder's I/O (docs/transparent.md, "DNS"): UDP datagrams and TCP connections on
// listeners a sandbox handed over. Every answer comes from dns::answer_query (no recursion).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <memory>

#include "proxy/gateway.hpp"

namespace cloakroom::proxy {

// Answers datagrams until the socket is closed.
boost::asio::awaitable<void> run_dns_datagrams(std::shared_ptr<boost::asio::ip::udp::socket> socket,
                                               Gateway& gateway);

// Answers length-prefixed queries on one TCP connection (RFC 7766) until it ends.
boost::asio::awaitable<void> run_dns_tcp_connection(boost::asio::ip::tcp::socket socket,
                                                    Gateway& gateway);

}  // namespace cloakroom::proxy
