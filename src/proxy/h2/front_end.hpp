// The HTTP/2 front end: an nghttp2 server session (session.hpp) fed from the agent's stream - an
// intercepted connection whose agent negotiated ALPN "h2", or the reverse listener's plain TCP
// when the agent opens with the HTTP/2 preface (h2c with prior knowledge) - and one exchange per
// stream
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
#include <functional>
#include <string_view>

#include "http/head.hpp"
#include "proxy/connection_sessions.hpp"
#include "proxy/gateway.hpp"
#include "proxy/plain_stream.hpp"
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

// A stream's Target from its request head (`:authority` is its Host field), under the snapshot
// the stream runs with; it may rewrite the head's target (the reverse listener strips the
// service prefix). Called once per stream, before any check.
using StreamRouter = std::function<Target(const Runtime& runtime, http::Head& request)>;

// The same front end over the reverse listener's plain TCP (h2c with prior knowledge, RFC 9113
// §3.3). `received`: the bytes already read from the agent (the connection preface at least).
// `connection`: the client's address and front end, for the audit of a stream refused before it
// is routed; `route` gives every other stream its own Target, so the streams of one connection
// may go to different services.
boost::asio::awaitable<void> serve_h2c(PlainStream& stream, std::string_view received,
                                       const Target& connection, StreamRouter route, Worker& worker,
                                       ConnectionSessions* sessions = nullptr);

}  // namespace cloakroom::proxy::h2
