// Connections to real upstreams: resolve, check every address against the SSRF policy, dial
// exactly a checked address, TLS with verification (never optional), and reuse through a
// per-worker pool (one io_context per thread, so the pool needs no lock).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proxy/tls_stream.hpp"

namespace cloakroom::proxy {

struct UpstreamTarget {
    std::string host;  // name the TLS certificate must carry (and SNI)
    std::uint16_t port = 443;
    std::optional<std::string> connect_to;  // fixed "host:port" to dial instead of host:port
    bool allow_private = false;
    std::string pool_key() const;
};

// The pool key of a target, written over `out` (reused across requests: no allocation once it
// has grown to a key's size). Connections are shared only between requests that agree on all
// of: the certificate name, the port, the fixed dial address and the private-address policy.
void write_pool_key(std::string& out, std::string_view host, std::uint16_t port,
                    const std::optional<std::string>& connect_to, bool allow_private);

struct UpstreamConnection {
    UpstreamConnection(boost::asio::ip::tcp::socket socket, SSL_CTX* context)
        : stream(std::move(socket), context) {}
    TlsStream stream;
    boost::beast::flat_buffer buffer;
    std::string key;
    std::string address;  // the dialed address, for logs
    bool reused = false;
    bool h2 = false;      // the upstream chose ALPN "h2" (h2/upstream_connection.hpp speaks it)
    bool http11 = false;  // the upstream chose ALPN "http/1.1" (not merely no ALPN at all)
};

struct DialFailure {
    unsigned status;    // 403 address_forbidden, 502 unreachable / TLS failure, 504 timeout
    std::string error;  // error id for the JSON body
    std::string reason;
};

using DialResult = std::variant<std::unique_ptr<UpstreamConnection>, DialFailure>;

struct DialTimeouts {
    std::chrono::seconds connect{10};
    std::chrono::seconds handshake{10};
};

// `offer_h2`: ALPN offers "h2" before "http/1.1" and the connection says what the upstream chose
// (UpstreamConnection::h2); otherwise only "http/1.1" is offered.
boost::asio::awaitable<DialResult> dial_upstream(const UpstreamTarget& target,
                                                 boost::asio::ssl::context& tls_context,
                                                 const DialTimeouts& timeouts,
                                                 bool offer_h2 = false);

// Resolves and checks only (for blind tunnels to allowed hosts); returns the connected socket.
boost::asio::awaitable<std::variant<boost::beast::tcp_stream, DialFailure>> dial_tcp(
    const std::string& host, std::uint16_t port, bool allow_private,
    std::chrono::seconds connect_timeout);

// Idle upstream connections of one worker, by pool key. Most recent first out: the connection
// used last is the one most likely alive, and the one whose buffers are still warm.
class UpstreamPool {
  public:
    struct Limits {
        // Idle connections kept per key. At least a worker's concurrency to one host: a pool
        // smaller than that closes, after every burst, connections it dials again a moment later
        // (a full TLS handshake each, ~30x the cost of a request).
        std::size_t max_idle_per_key = 256;
        // Of those, how many keep OpenSSL's record buffers; the rest give them back when pooled
        // (so a large pool costs its sockets and TLS state, not 34 KiB each).
        std::size_t warm_per_key = 32;
        std::chrono::seconds max_idle{30};
        // A connection idle at least this long is peeked before reuse (EOF: the server closed
        // it; bytes: a response nobody asked for). 0: always, since stray bytes that arrive
        // after the response was read would otherwise answer the next request.
        std::chrono::seconds probe_after{0};
    };

    UpstreamPool() = default;
    explicit UpstreamPool(Limits limits) : limits_(limits) {}

    // An idle connection the server has not closed, or nullptr.
    std::unique_ptr<UpstreamConnection> take(std::string_view key);
    // Keeps a connection whose response was read completely; one with bytes left in its read
    // buffer is closed instead (they would be read as the next request's response).
    void put(std::unique_ptr<UpstreamConnection> connection);
    std::size_t idle_count(std::string_view key) const;

  private:
    struct Idle {
        std::unique_ptr<UpstreamConnection> connection;
        std::chrono::steady_clock::time_point since;
    };
    Limits limits_;
    std::map<std::string, std::deque<Idle>, std::less<>> idle_;  // find by string_view
};

}  // namespace cloakroom::proxy
