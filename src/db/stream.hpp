// A connection to an agent's database client or to a database server: TCP, upgraded in place to
// TLS when the protocol negotiates it (PostgreSQL SSLRequest, MySQL CLIENT_SSL) or from the first
// byte (Redis). The protocol sessions read and write through this one type whatever the
// transport, so their code has a single path.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.hpp"
#include "runtime/socket_io.hpp"
#include "util/result.hpp"

namespace cloakroom::db {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class DbStream {
  public:
    explicit DbStream(tcp::socket socket);
    DbStream(DbStream&&) noexcept;
    DbStream& operator=(DbStream&&) noexcept;
    ~DbStream();

    // Some bytes (at least one) into `into`; 0 with ec set on EOF/error.
    net::awaitable<std::size_t> read_some(net::mutable_buffer into, boost::system::error_code& ec);
    // Exactly `size` bytes appended to `out` (ec set on EOF/error before that).
    net::awaitable<void> read_exact(std::string& out, std::size_t size,
                                    boost::system::error_code& ec);
    net::awaitable<void> write_all(std::string_view bytes, boost::system::error_code& ec);
    // The two-way pump's fast path (runtime/socket_io.hpp): without a coroutine frame when the
    // bytes are there or the kernel takes them at once. Over TLS, try_read always says "wait"
    // and try_write leaves every byte to write_all.
    std::optional<std::size_t> try_read(net::mutable_buffer into, boost::system::error_code& ec);
    net::awaitable<std::size_t> read_when_ready(net::mutable_buffer into,
                                                boost::system::error_code& ec);
    std::string_view try_write(std::string_view bytes, boost::system::error_code& ec);

    // Server side (agent → Cloakroom): TLS handshake on this stream presenting `context`'s
    // certificate (see ClientTls). Errors: "db.tls" with the reason.
    net::awaitable<Result<void>> accept_tls(net::ssl::context& context);
    // Client side (Cloakroom → database): TLS per the database's mode. `context` comes from
    // UpstreamTls::context (verification already configured for the mode); the host name check
    // (VerifyFull) and SNI are set here. Errors: "db.tls" naming the verification failure.
    net::awaitable<Result<void>> connect_tls(net::ssl::context& context,
                                             const config::Database& database);

    // Moves a plaintext stream to `target` (its socket re-registered with that context's
    // reactor; the file descriptor, its options and any bytes queued in the kernel stay). From
    // then on the stream is used only on a thread running `target`. Needs no operation pending.
    // Over TLS nothing moves (an Asio ssl::stream is tied to its context). Errors: "db.move";
    // the stream is then closed.
    Result<void> move_to(net::io_context& target);

    bool is_tls() const { return tls_ != nullptr; }
    SSL* ssl_handle();  // nullptr when plaintext (e.g. for tls-server-end-point binding)
    tcp::socket& socket();
    std::string peer() const;  // "ip:port", for logs and the audit record
    void close();              // idempotent; pending reads and writes complete with an error
    void shutdown_send();      // half-close (the two-way pump's EndMode::HalfClose)

  private:
    std::unique_ptr<tcp::socket> tcp_;       // valid until TLS takes it over
    std::unique_ptr<runtime::SocketIo> io_;  // reads and writes *tcp_ (plaintext relay legs)
    std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
};

// Closes the stream(s) when a phase (handshake, login) takes longer than `limit`, so a silent or
// slow peer can never hold a session open: the pending operation then fails with an error.
class Deadline {
  public:
    Deadline(net::any_io_executor executor, std::chrono::steady_clock::duration limit, DbStream& a,
             DbStream* b = nullptr);
    ~Deadline();  // cancels the timer
    // Adds a stream opened after the deadline started (the upstream). Streams must not be moved
    // while a Deadline watches them.
    void watch(DbStream& stream);
    bool expired() const;

  private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace cloakroom::db
