// The WebSocket relay: after an upgrade request the plan allowed (injected like any request) and
// the upstream's 101 answer, the exchange becomes the one two-way pump (runtime/two_way_pump.hpp)
// between the agent and the upstream until either side closes or both are silent for the idle
// timeout. Frames from the server pass the redaction filter (websocket_redaction.hpp); the
// agent's frames go on unchanged (it holds no secret). One audit record for the whole relay.
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

// Why a 101 answer cannot be relayed, or nothing when it can.
inline std::optional<std::string> websocket_answer_problem(const http::Head& response) {
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
    return std::nullopt;
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
    std::optional<WebSocketRedaction> redaction;
    runtime::PumpOptions options;
    options.pending_a_to_b.assign(static_cast<const char*>(client_buffer.data().data()),
                                  client_buffer.size());
    client_buffer.consume(client_buffer.size());
    options.pending_b_to_a.assign(static_cast<const char*>(upstream_buffer.data().data()),
                                  upstream_buffer.size());
    upstream_buffer.consume(upstream_buffer.size());
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
        exchange.fail(101, reason + " (" + redaction->error() + ")");
    } else {
        exchange.complete(101, decision, reason);
    }
    exchange.finish();
    co_return false;
}

}  // namespace cloakroom::proxy
