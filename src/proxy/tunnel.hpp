// A blind byte relay, used only for allowed non-credential hosts (never for a service host:
// invariant 3).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>

namespace cloakroom::proxy {

struct TunnelBytes {
    std::uint64_t client_to_upstream = 0;
    std::uint64_t upstream_to_client = 0;
};

// `pending` holds bytes the client sent after the CONNECT head; they go upstream first.
boost::asio::awaitable<TunnelBytes> relay_tunnel(boost::beast::tcp_stream& client,
                                                 boost::beast::flat_buffer& pending,
                                                 boost::beast::tcp_stream& upstream,
                                                 std::chrono::seconds idle_timeout);

}  // namespace cloakroom::proxy
