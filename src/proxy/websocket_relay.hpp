// The WebSocket relay: after an upgrade request the plan allowed (injected like any request) and
// the upstream's 101 answer, the exchange becomes the one two-way pump (runtime/two_way_pump.hpp)
// between the agent and the upstream until either side closes or both are silent for the idle
// timeout. Frames from the server pass the redaction filter (websocket_redaction.hpp); the
// agent's frames go on unchanged (it holds no secret). One audit record for the whole relay.
// An HTTP/2 agent's WebSocket (RFC 8441 extended CONNECT, h2/front_end.cpp) uses the same
// pump_websocket with its stream as the agent's side.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "http/head.hpp"
#include "http/hop_by_hop.hpp"
#include "proxy/gateway.hpp"
#include "proxy/head_redaction.hpp"
#include "proxy/request_plan.hpp"
#include "proxy/websocket_redaction.hpp"
#include "runtime/exchange.hpp"
#include "runtime/two_way_pump.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy {

// A stream of the proxy (TlsStream, PlainStream, beast::tcp_stream) as a side of the pump.
template <class Stream>
class StreamSide {
  public:
    explicit StreamSide(Stream& stream) : stream_(stream) { stream_.expires_never(); }
    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                  boost::system::error_code& ec) {
        ec = {};
        co_return co_await stream_.async_read_some(
            into, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    boost::asio::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec) {
        ec = {};
        co_await boost::asio::async_write(
            stream_, boost::asio::buffer(bytes.data(), bytes.size()),
            boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    // Ends the connection without closing the descriptor: a TlsStream's BIO sends on the raw
    // fd (its close_notify, later), and a closed fd number is soon another connection's, which
    // would then receive this one's bytes. The stream's owner closes it when it goes.
    void close() {
        boost::system::error_code ignored;
        auto& socket = stream_.socket();
        if (!socket.is_open()) return;
        socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        socket.cancel(ignored);
    }
    void shutdown_send() {}  // sessions end as a whole (EndMode::Close)

  private:
    Stream& stream_;
};

// Why a 101 answer cannot be relayed, or nothing when it can. `expected_accept`: when the
// gateway made the key itself (an HTTP/2 agent's extended CONNECT has none), the answer's
// Sec-WebSocket-Accept it must carry; otherwise the agent checks the answer to its own key.
inline std::optional<std::string> websocket_answer_problem(const http::Head& response,
                                                           std::string_view expected_accept = {}) {
    bool upgrade = false;
    for (const auto& field : response.fields()) {
        if (ascii_iequals(field.name, "Upgrade") && http::list_contains(field.value, "websocket")) {
            upgrade = true;
        }
    }
    if (!upgrade) return "the upstream switched to a protocol other than WebSocket";
    if (response.find("Sec-WebSocket-Extensions")) {
        return "the upstream negotiated a WebSocket extension that was not offered";
    }
    if (!expected_accept.empty() && response["Sec-WebSocket-Accept"] != expected_accept) {
        return "the upstream's Sec-WebSocket-Accept does not answer the handshake's key";
    }
    return std::nullopt;
}

// The frames of an opened WebSocket both ways through the one two-way pump, for every agent
// side (an HTTP/1.1 connection, or an HTTP/2 stream of an extended CONNECT): the server's frames
// through the redaction filter, the agent's unchanged (it holds no secret), until either side
// ends or both are silent for the idle timeout; then the exchange's one record (status
// `status`: what the agent was answered, 101 or the stream's 200). `pending_from_agent` and
// `pending_from_upstream`: bytes read past the handshake.
template <class AgentSide, class UpstreamSide>
boost::asio::awaitable<void> pump_websocket(AgentSide& agent_side, UpstreamSide& upstream_side,
                                            std::string pending_from_agent,
                                            std::string pending_from_upstream,
                                            const RequestPlan& plan, std::string_view decision,
                                            unsigned status, runtime::Exchange& exchange,
                                            const Gateway& gateway) {
    std::optional<WebSocketRedaction> redaction;
    runtime::PumpOptions options;
    options.pending_a_to_b = std::move(pending_from_agent);
    options.pending_b_to_a = std::move(pending_from_upstream);
    if (plan.redacts()) {
        redaction.emplace(plan.redaction->needles);
        options.b_to_a = &*redaction;
    }
    options.idle_timeout = gateway.timeouts.body_idle;
    options.a_name = "agent";
    const runtime::PumpResult result =
        co_await runtime::pump_both_ways(agent_side, upstream_side, std::move(options));
    AuditRecord& audit = exchange.record();
    audit.bytes_in += result.a_to_b;
    audit.bytes_out = result.b_to_a;
    std::string reason = plan.reason.empty() ? "websocket" : plan.reason + "; websocket";
    reason += " ended by " + result.ended_by;
    if (redaction && !redaction->error().empty()) {
        exchange.fail(status, reason + " (" + redaction->error() + ")");
    } else {
        exchange.complete(status, decision, reason);
    }
    exchange.finish();
}

// The upstream answered 101 to an allowed upgrade: the agent gets the (redacted) answer, then
// frames both ways. Returns false: the agent's connection is the relay's and ends with it.
template <class ClientStream, class UpstreamStream>
boost::asio::awaitable<bool> relay_websocket(
    ClientStream& client, boost::beast::flat_buffer& client_buffer, UpstreamStream& upstream,
    boost::beast::flat_buffer& upstream_buffer, http::Head& response, const RequestPlan& plan,
    std::string_view decision, runtime::Exchange& exchange, const Gateway& gateway) {
    namespace net = boost::asio;
    http::remove_hop_by_hop(response);
    response.set("Connection", "Upgrade");
    response.set("Upgrade", "websocket");
    response.set("Via", "1.1 cloakroom");
    std::string head;
    response.append_response(head);
    boost::system::error_code ec;
    co_await net::async_write(client, net::buffer(head),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        exchange.fail(101, "the agent went away before the WebSocket opened: " + ec.message());
        co_return false;
    }

    StreamSide<ClientStream> agent_side(client);
    StreamSide<UpstreamStream> upstream_side(upstream);
    std::string from_agent(static_cast<const char*>(client_buffer.data().data()),
                           client_buffer.size());
    client_buffer.consume(client_buffer.size());
    std::string from_upstream(static_cast<const char*>(upstream_buffer.data().data()),
                              upstream_buffer.size());
    upstream_buffer.consume(upstream_buffer.size());
    co_await pump_websocket(agent_side, upstream_side, std::move(from_agent),
                            std::move(from_upstream), plan, decision, 101, exchange, gateway);
    co_return false;
}

}  // namespace cloakroom::proxy
