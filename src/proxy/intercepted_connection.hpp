// An intercepted connection: TLS to the agent with a leaf for the target's host, then every
// request on it through the one exchange pipeline (exchange_pipeline.hpp). Any front end that
// has the agent's socket and a Target plugs in here: the CONNECT front end after "200 Connection
// established", a transparent listener after reading the original destination and the SNI.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/gateway.hpp"
#include "proxy/target.hpp"

namespace cloakroom::proxy {

// `early_input`: bytes already read from the socket that belong to the TLS handshake (what the
// client sent right after its CONNECT head, or a peeked ClientHello); it is consumed and then
// reused as the connection's read buffer. Owned by the coroutine, so that the caller's frame
// need not outlive the connection (run_client_connection spawns it and ends).
boost::asio::awaitable<void> serve_intercepted(boost::asio::ip::tcp::socket socket,
                                               boost::beast::flat_buffer early_input, Target target,
                                               Worker& worker);

}  // namespace cloakroom::proxy
