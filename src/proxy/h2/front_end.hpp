// The HTTP/2 front end of an intercepted connection (the agent negotiated ALPN "h2"): an nghttp2
// server session (session.hpp) fed from the agent's TLS stream, and one exchange per stream
// through the same stages as an HTTP/1.1 request (exchange_pipeline.hpp: decide_exchange,
// apply_plan, round_trip on an upstream leg, the response head's redaction, ResponseBodyReader)
// - docs/architecture.md, "HTTP/2". A refused stream is answered on its own (the same JSON error
// body as HTTP/1.1) and its siblings go on.
//
// Flow control is end to end: request body bytes are acknowledged to the agent (WINDOW_UPDATE)
// only once the upstream took them, and a stream reads its upstream response only while less
// than kOutboxLimit of it waits for the agent's window, so a slow agent slows its own stream's
// upstream and nothing else.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "proxy/connection_sessions.hpp"
#include "proxy/gateway.hpp"
#include "proxy/target.hpp"
#include "proxy/tls_stream.hpp"

namespace cloakroom::proxy::h2 {

// Response bytes a stream buffers for the agent before it stops reading its upstream.
inline constexpr std::size_t kOutboxLimit = 64 * 1024;

// Serves the connection until the agent or the session ends it. The TLS handshake is done and
// the agent chose "h2". `target.tls_server_name` is set. `sessions` (may be null): the
// connection's token registrations, which a revocation uses to end it.
boost::asio::awaitable<void> serve_h2(TlsStream& tls, const Target& target, Worker& worker,
                                      ConnectionSessions* sessions = nullptr);

}  // namespace cloakroom::proxy::h2
