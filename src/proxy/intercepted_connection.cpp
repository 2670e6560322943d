// The intercepted-connection server: see intercepted_connection.hpp.
#include "proxy/intercepted_connection.hpp"

#include <openssl/ssl.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <ctime>

#include "proxy/connection_read.hpp"
#include "proxy/connection_sessions.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/h2/front_end.hpp"
#include "proxy/tls_stream.hpp"
#include "runtime/metrics.hpp"
#include "tls/contexts.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

net::awaitable<void> serve_intercepted(tcp::socket socket, beast::flat_buffer buffer, Target target,
                                       Worker& worker) {
    Gateway& gateway = worker.gateway;
    auto leaf =
        gateway.leaves.get(target.route.host, static_cast<std::int64_t>(std::time(nullptr)));
    if (!leaf.ok()) co_return;  // the client already got 200; nothing sane to answer over TLS
    // The host's own context, which already carries its leaf (nothing to install per handshake).
    auto context = gateway.leaf_contexts.get(*leaf);
    if (!context.ok()) co_return;
    TlsStream tls(std::move(socket), context->get());
    if (!tls.ok()) co_return;

    beast::error_code ec;
    tls.expires_after(gateway.timeouts.tls_handshake);
    // Bytes already read (after a CONNECT head, or a peeked ClientHello) start the handshake.
    tls.set_early_input(buffer_view(buffer));
    buffer.consume(buffer.size());
    buffer.shrink_to_fit();  // the CONNECT head's 8 KiB would otherwise stay for the connection
    co_await tls.async_handshake(net::ssl::stream_base::server,
                                 net::redirect_error(net::use_awaitable, ec));
    runtime::metrics().add(ec ? runtime::Event::AgentTlsHandshakeFailed
                              : runtime::Event::AgentTlsHandshakeOk);
    if (ec) co_return;
    // The tokens this connection carries, registered so that a revocation ends it.
    ConnectionSessions sessions(gateway.sessions.get(), tls.socket());

    // Invariant 2: CONNECT authority = TLS SNI = Host (checked per request by the plan).
    if (const char* sni = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
        target.tls_server_name = std::string(sni);
    }

    // The agent chose HTTP/2 (ALPN "h2"): the HTTP/2 front end, whose streams go through the
    // same pipeline; the upstream leg stays HTTP/1.1 (docs/architecture.md, "HTTP/2").
    const unsigned char* alpn = nullptr;
    unsigned int alpn_size = 0;
    SSL_get0_alpn_selected(tls.native_handle(), &alpn, &alpn_size);
    if (alpn_size == 2 && std::memcmp(alpn, "h2", 2) == 0) {
        co_await h2::serve_h2(tls, target, worker, &sessions);
        tls.expires_after(std::chrono::seconds(2));
        co_await tls.async_shutdown(net::redirect_error(net::use_awaitable, ec));
        co_return;
    }

    bool first = true;
    for (;;) {
        const auto head_timeout = first ? gateway.timeouts.first_header : gateway.timeouts.idle;
        const bool waited = buffer.size() == 0;
        if (waited) {
            // Idle: wait for the next request's first bytes with no read buffer of our own and
            // OpenSSL's freed (TlsStream::async_wait_input), and from this frame, so that no
            // deeper coroutine frame is held while the connection idles. Any failure shows
            // again on the read that follows.
            buffer.shrink_to_fit();
            tls.expires_after(head_timeout);
            co_await tls.async_wait_input(net::redirect_error(net::use_awaitable, ec));
        }
        IncomingRequest request;
        const bool ok = co_await read_request_head(tls, buffer, request, gateway, target.client,
                                                   head_timeout, waited);
        if (!ok) break;
        first = false;
        // Each request sees the newest configuration, its route included (target.hpp).
        std::shared_ptr<const Runtime> runtime = gateway.runtime.get();
        if (target.routed_by != runtime) {
            target.route = route_again(runtime->config, target.route);
            target.routed_by = runtime;
        }
        if (!co_await forward_request(tls, buffer, request, target, runtime, worker, &sessions)) {
            break;
        }
    }
    tls.expires_after(std::chrono::seconds(2));
    co_await tls.async_shutdown(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace cloakroom::proxy
