#include "proxy/upstream.hpp"

#include <sys/socket.h>

#include <charconv>
#include <iterator>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/authority.hpp"
#include "policy/address_policy.hpp"
#include "proxy/reserved_endpoints.hpp"
#include "runtime/metrics.hpp"
#include "tls/contexts.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

void write_pool_key(std::string& out, std::string_view host, std::uint16_t port,
                    const std::optional<std::string>& connect_to, bool allow_private) {
    out.assign(host);
    out += ':';
    char digits[8];
    const auto end = std::to_chars(std::begin(digits), std::end(digits), port).ptr;
    out.append(digits, end);
    out += '|';
    if (connect_to) out += *connect_to;
    if (allow_private) out += "|p";
}

std::string UpstreamTarget::pool_key() const {
    std::string key;
    write_pool_key(key, host, port, connect_to, allow_private);
    return key;
}

namespace {

std::vector<std::uint8_t> address_bytes(const net::ip::address& address) {
    if (address.is_v4()) {
        const auto b = address.to_v4().to_bytes();
        return {b.begin(), b.end()};
    }
    const auto b = address.to_v6().to_bytes();
    return {b.begin(), b.end()};
}

struct Resolved {
    std::vector<tcp::endpoint> allowed;
    std::optional<DialFailure> failure;
};

// Resolve, then keep only addresses the policy allows: the dial below uses exactly these, so
// a DNS answer that changes between check and connect (rebinding) cannot slip through.
net::awaitable<Resolved> resolve_checked(const std::string& host, std::uint16_t port,
                                         bool allow_private) {
    Resolved out;
    auto executor = co_await net::this_coro::executor;
    tcp::resolver resolver(executor);
    beast::error_code ec;
    auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        out.failure = DialFailure{502, "upstream_unreachable",
                                  "cannot resolve upstream host '" + host + "': " + ec.message()};
        co_return out;
    }
    std::string refused;
    bool private_would_allow = false;
    for (const auto& entry : results) {
        const auto bytes = address_bytes(entry.endpoint().address());
        // The address policy decides everything, metadata included (never allowed).
        auto verdict = policy::classify_address(bytes, allow_private);
        if (verdict.allowed && is_reserved_endpoint(entry.endpoint())) {
            // The gateway's own admin listener: never for an agent (reserved_endpoints.hpp).
            if (refused.empty()) refused = "the gateway's own admin listener";
            continue;
        }
        if (verdict.allowed) {
            out.allowed.push_back(entry.endpoint());
        } else if (refused.empty()) {
            refused = verdict.reason;
            private_would_allow = verdict.allow_private_would_allow;
        }
    }
    if (out.allowed.empty()) {
        // Suggest allow_private only when it would help (not for metadata, multicast, ...).
        out.failure = DialFailure{
            403, "address_forbidden",
            "upstream '" + host + "' resolves to a forbidden address (" + refused + ")" +
                (private_would_allow ? "; set allow_private = true on the service if this is "
                                       "intended"
                                     : "")};
    }
    co_return out;
}

net::awaitable<std::variant<beast::tcp_stream, DialFailure>> connect_checked(
    const std::string& host, std::uint16_t port, bool allow_private, std::chrono::seconds timeout) {
    auto resolved = co_await resolve_checked(host, port, allow_private);
    if (resolved.failure) co_return *resolved.failure;
    auto executor = co_await net::this_coro::executor;
    beast::error_code ec;
    for (const auto& endpoint : resolved.allowed) {
        beast::tcp_stream stream(executor);
        stream.expires_after(timeout);
        co_await stream.async_connect(endpoint, net::redirect_error(net::use_awaitable, ec));
        if (!ec) {
            stream.socket().set_option(tcp::no_delay(true), ec);
            co_return std::move(stream);
        }
    }
    if (ec == beast::error::timeout) {
        co_return DialFailure{504, "upstream_timeout",
                              "connecting to upstream '" + host + "' timed out"};
    }
    co_return DialFailure{502, "upstream_unreachable",
                          "cannot connect to upstream '" + host + "': " + ec.message()};
}

}  // namespace

net::awaitable<std::variant<beast::tcp_stream, DialFailure>> dial_tcp(
    const std::string& host, std::uint16_t port, bool allow_private,
    std::chrono::seconds connect_timeout) {
    co_return co_await connect_checked(host, port, allow_private, connect_timeout);
}

net::awaitable<DialResult> dial_upstream(const UpstreamTarget& target,
                                         net::ssl::context& tls_context,
                                         const DialTimeouts& timeouts, bool offer_h2) {
    std::string dial_host = target.host;
    std::uint16_t dial_port = target.port;
    if (target.connect_to) {
        auto authority = config::parse_authority(*target.connect_to);
        if (!authority.ok()) {
            co_return DialFailure{502, "upstream_unreachable",
                                  "bad connect_to: " + authority.error().message};
        }
        dial_host = authority->host;
        dial_port = authority->port.value_or(443);
    }
    auto tcp_result =
        co_await connect_checked(dial_host, dial_port, target.allow_private, timeouts.connect);
    if (auto* failure = std::get_if<DialFailure>(&tcp_result)) co_return *failure;

    auto& tcp_stream = std::get<beast::tcp_stream>(tcp_result);
    beast::error_code ec;
    const auto remote = tcp_stream.socket().remote_endpoint(ec);
    auto connection = std::make_unique<UpstreamConnection>(tcp_stream.release_socket(),
                                                           tls_context.native_handle());
    if (!connection->stream.ok()) {
        co_return DialFailure{502, "upstream_tls_failed", "cannot create a TLS session"};
    }
    connection->key = target.pool_key();
    connection->address = remote.address().to_string() + ":" + std::to_string(remote.port());
    if (auto prepared = tls::prepare_client_ssl(connection->stream.native_handle(), target.host);
        !prepared.ok()) {
        co_return DialFailure{502, "upstream_tls_failed", prepared.error().message};
    }
    if (offer_h2) {
        static constexpr unsigned char kH2First[] = {2,   'h', '2', 8,   'h', 't',
                                                     't', 'p', '/', '1', '.', '1'};
        // 0 on success, unlike nearly everything else in OpenSSL.
        if (SSL_set_alpn_protos(connection->stream.native_handle(), kH2First, sizeof kH2First) !=
            0) {
            co_return DialFailure{502, "upstream_tls_failed", "cannot set ALPN"};
        }
    }
    connection->stream.expires_after(timeouts.handshake);
    co_await connection->stream.async_handshake(net::ssl::stream_base::client,
                                                net::redirect_error(net::use_awaitable, ec));
    runtime::metrics().add(ec ? runtime::Event::UpstreamTlsHandshakeFailed
                              : runtime::Event::UpstreamTlsHandshakeOk);
    if (ec) {
        if (ec == beast::error::timeout) {
            co_return DialFailure{504, "upstream_timeout",
                                  "TLS handshake with upstream '" + target.host + "' timed out"};
        }
        std::string reason = tls::verify_failure_reason(connection->stream.native_handle());
        if (reason.empty()) reason = ec.message();
        co_return DialFailure{502, "upstream_tls_failed",
                              "TLS to upstream '" + target.host + "' failed: " + reason};
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_size = 0;
    SSL_get0_alpn_selected(connection->stream.native_handle(), &alpn, &alpn_size);
    connection->h2 = offer_h2 && alpn_size == 2 && alpn[0] == 'h' && alpn[1] == '2';
    connection->http11 =
        alpn_size == 8 && std::string_view(reinterpret_cast<const char*>(alpn), 8) == "http/1.1";
    co_return std::move(connection);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take(std::string_view key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    while (!list.empty()) {
        Idle idle = std::move(list.back());
        list.pop_back();
        if (now - idle.since > limits_.max_idle) continue;
        // A pooled connection the server closed reads as EOF; bytes on it are a response
        // nobody asked for, which the next request would take for its own (response desync,
        // across agents). Peek without blocking. Skipped only for connections back in the pool
        // for less than probe_after (default 0: never skipped): one closed in that window fails
        // before any response byte and the caller retries, but stray bytes would be read.
        if (now - idle.since < limits_.probe_after) {
            idle.connection->reused = true;
            return std::move(idle.connection);
        }
        auto& socket = idle.connection->stream.socket();
        char byte;
        const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) continue;
        if (n > 0) continue;  // unsolicited bytes: the connection is out of sync, drop it
        idle.connection->reused = true;
        return std::move(idle.connection);
    }
    return nullptr;
}

void UpstreamPool::put(std::unique_ptr<UpstreamConnection> connection) {
    // Bytes already read past the response would be taken for the start of the next response,
    // which belongs to another request (possibly another agent's): such a connection is closed.
    if (connection->buffer.size() != 0 || connection->stream.holds_unread_input()) return;
    auto& list = idle_[connection->key];
    const auto now = std::chrono::steady_clock::now();
    // The oldest are at the front: drop what has idled too long, then what exceeds the limit.
    while (!list.empty() && now - list.front().since > limits_.max_idle) list.pop_front();
    if (list.size() >= limits_.max_idle_per_key) list.pop_front();
    if (list.size() >= limits_.warm_per_key) {
        connection->stream.release_buffers();
        connection->buffer.shrink_to_fit();  // the 16 KiB read buffer of its last response
    }
    list.push_back(Idle{std::move(connection), now});
}

std::size_t UpstreamPool::idle_count(std::string_view key) const {
    const auto it = idle_.find(key);
    return it == idle_.end() ? 0 : it->second.size();
}

}  // namespace cloakroom::proxy
