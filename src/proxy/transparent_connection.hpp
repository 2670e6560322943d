// The transparent front end (docs/transparent.md): connections the kernel redirected here
// (nftables/iptables REDIRECT, inside a `cloakroom run` sandbox or set up by the user). The
// original destination comes from SO_ORIGINAL_DST; the host name from the TLS ClientHello's
// server name or a plain-HTTP Host header, and it must belong to that destination. A service
// host is intercepted like a CONNECT, an [allow] host is tunnelled blindly, anything else is
// closed with an audited refusal (kind "transparent").
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/gateway.hpp"

namespace cloakroom::proxy {

boost::asio::awaitable<void> run_transparent_connection(boost::asio::ip::tcp::socket socket,
                                                        Worker& worker);

}  // namespace cloakroom::proxy
