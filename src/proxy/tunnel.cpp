// A blind tunnel is the one two-way pump (runtime/two_way_pump.hpp) without filters, passing
// each side's EOF on as a half-close.
#include "proxy/tunnel.hpp"

#include "runtime/socket_io.hpp"
#include "runtime/two_way_pump.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;

net::awaitable<TunnelBytes> relay_tunnel(beast::tcp_stream& client, beast::flat_buffer& pending,
                                         beast::tcp_stream& upstream,
                                         std::chrono::seconds idle_timeout) {
    runtime::SocketSide client_side(client.socket());
    runtime::SocketSide upstream_side(upstream.socket());
    runtime::PumpOptions options;
    options.pending_a_to_b.assign(static_cast<const char*>(pending.data().data()), pending.size());
    pending.consume(pending.size());
    options.end_mode = runtime::EndMode::HalfClose;
    options.idle_timeout = idle_timeout;
    options.chunk_size = 16 * 1024;
    const runtime::PumpResult result =
        co_await runtime::pump_both_ways(client_side, upstream_side, std::move(options));
    co_return TunnelBytes{result.a_to_b, result.b_to_a};
}

}  // namespace cloakroom::proxy
