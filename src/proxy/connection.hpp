// One agent connection on the proxy listener: CONNECT (deny / tunnel / intercept) or
// absolute-form http:// requests; or on the reverse base-URL listener.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/gateway.hpp"

namespace cloakroom::proxy {

boost::asio::awaitable<void> run_client_connection(boost::asio::ip::tcp::socket socket,
                                                   Worker& worker);

// One agent connection on the reverse base-URL listener (reverse_connection.cpp).
boost::asio::awaitable<void> run_reverse_connection(boost::asio::ip::tcp::socket socket,
                                                    Worker& worker);

}  // namespace cloakroom::proxy
