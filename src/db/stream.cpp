#include "db/stream.hpp"

#include <openssl/err.h>

#include <arpa/inet.h>
#include <unistd.h>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "runtime/peer_address.hpp"
#include "tls/contexts.hpp"

namespace cloakroom::db {
namespace {

bool is_ip_literal(const std::string& host) {
    in_addr v4{};
    in6_addr v6{};
    return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

std::string openssl_reason() {
    const unsigned long code = ERR_peek_last_error();
    if (code == 0) return {};
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return text;
}

}  // namespace

DbStream::DbStream(tcp::socket socket)
    : tcp_(std::make_unique<tcp::socket>(std::move(socket))),
      io_(std::make_unique<runtime::SocketIo>(*tcp_)) {}
DbStream::DbStream(DbStream&&) noexcept = default;
DbStream& DbStream::operator=(DbStream&&) noexcept = default;
DbStream::~DbStream() = default;

tcp::socket& DbStream::socket() {
    return tls_ ? tls_->next_layer() : *tcp_;
}

SSL* DbStream::ssl_handle() {
    return tls_ ? tls_->native_handle() : nullptr;
}

std::string DbStream::peer() const {
    return runtime::peer_address(tls_ ? tls_->next_layer() : *tcp_);
}

Result<void> DbStream::move_to(net::io_context& target) {
    if (tls_) return make_error("db.move", "a TLS stream stays on its context");
    boost::system::error_code ec;
    const tcp::endpoint local = tcp_->local_endpoint(ec);
    if (ec) return make_error("db.move", "socket: " + ec.message());
    const int fd = tcp_->release(ec);
    if (ec) return make_error("db.move", "release: " + ec.message());
    auto moved = std::make_unique<tcp::socket>(target);
    moved->assign(local.protocol(), fd, ec);
    if (ec) {
        ::close(fd);
        return make_error("db.move", "assign: " + ec.message());
    }
    io_ = std::make_unique<runtime::SocketIo>(*moved);
    tcp_ = std::move(moved);
    return {};
}

void DbStream::close() {
    boost::system::error_code ignored;
    tcp::socket& s = socket();
    if (s.is_open()) {
        s.shutdown(tcp::socket::shutdown_both, ignored);
        s.close(ignored);
    }
}

void DbStream::shutdown_send() {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<std::size_t> DbStream::read_some(net::mutable_buffer into,
                                                boost::system::error_code& ec) {
    ec = {};
    if (tls_) {
        co_return co_await tls_->async_read_some(into, net::redirect_error(net::use_awaitable, ec));
    }
    co_return co_await io_->read_some(into, ec);
}

std::optional<std::size_t> DbStream::try_read(net::mutable_buffer into,
                                              boost::system::error_code& ec) {
    ec = {};
    if (tls_) return std::nullopt;
    return io_->try_read(into, ec);
}

net::awaitable<std::size_t> DbStream::read_when_ready(net::mutable_buffer into,
                                                      boost::system::error_code& ec) {
    ec = {};
    if (tls_) return tls_->async_read_some(into, net::redirect_error(net::use_awaitable, ec));
    return io_->read_when_ready(into, ec);
}

std::string_view DbStream::try_write(std::string_view bytes, boost::system::error_code& ec) {
    ec = {};
    if (tls_) return bytes;
    return io_->try_write(bytes, ec);
}

net::awaitable<void> DbStream::read_exact(std::string& out, std::size_t size,
                                          boost::system::error_code& ec) {
    ec = {};
    const std::size_t start = out.size();
    out.resize(start + size);
    std::size_t got = 0;
    if (tls_) {
        got = co_await net::async_read(*tls_, net::buffer(out.data() + start, size),
                                       net::redirect_error(net::use_awaitable, ec));
    } else {
        got = co_await net::async_read(*tcp_, net::buffer(out.data() + start, size),
                                       net::redirect_error(net::use_awaitable, ec));
    }
    out.resize(start + got);
}

net::awaitable<void> DbStream::write_all(std::string_view bytes, boost::system::error_code& ec) {
    ec = {};
    if (tls_) {
        co_await net::async_write(*tls_, net::buffer(bytes.data(), bytes.size()),
                                  net::redirect_error(net::use_awaitable, ec));
    } else {
        co_await io_->write_all(bytes, ec);
    }
}

net::awaitable<Result<void>> DbStream::accept_tls(net::ssl::context& context) {
    if (tls_) co_return make_error("db.tls", "the connection is already encrypted");
    tls_ = std::make_unique<net::ssl::stream<tcp::socket>>(std::move(*tcp_), context);
    io_.reset();
    tcp_.reset();
    boost::system::error_code ec;
    co_await tls_->async_handshake(net::ssl::stream_base::server,
                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        std::string why = openssl_reason();
        co_return make_error("db.tls", "TLS handshake with the client failed: " +
                                           (why.empty() ? ec.message() : why));
    }
    co_return Result<void>{};
}

net::awaitable<Result<void>> DbStream::connect_tls(net::ssl::context& context,
                                                   const config::Database& database) {
    if (tls_) co_return make_error("db.tls", "the connection is already encrypted");
    tls_ = std::make_unique<net::ssl::stream<tcp::socket>>(std::move(*tcp_), context);
    io_.reset();
    tcp_.reset();
    SSL* ssl = tls_->native_handle();
    const std::string& name = database.server_name;
    if (database.tls == config::DatabaseTlsMode::VerifyFull) {
        // SNI, the name check (no partial wildcards), and the name for failure messages.
        if (auto prepared = tls::prepare_client_ssl(ssl, name); !prepared.ok()) {
            co_return make_error("db.tls",
                                 "database \"" + database.name + "\": " + prepared.error().message);
        }
    } else if (!is_ip_literal(name)) {
        // verify-ca / require: SNI only (DNS names only, RFC 6066); the chain is all we check.
        // SSL_set_tlsext_host_name is a macro with a C cast; this is its expansion.
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str()));
    }
    boost::system::error_code ec;
    co_await tls_->async_handshake(net::ssl::stream_base::client,
                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        std::string why = tls::verify_failure_reason(ssl);
        if (why.empty()) why = openssl_reason();
        if (why.empty()) why = ec.message();
        co_return make_error("db.tls", "TLS to database \"" + database.name + "\" (" +
                                           database.upstream + ") failed: " + why);
    }
    co_return Result<void>{};
}

struct Deadline::State {
    explicit State(net::any_io_executor executor) : timer(std::move(executor)) {}
    net::steady_timer timer;
    std::vector<DbStream*> streams;
    bool expired = false;
};

Deadline::Deadline(net::any_io_executor executor, std::chrono::steady_clock::duration limit,
                   DbStream& a, DbStream* b)
    : state_(std::make_shared<State>(std::move(executor))) {
    state_->streams.push_back(&a);
    if (b != nullptr) state_->streams.push_back(b);
    state_->timer.expires_after(limit);
    state_->timer.async_wait([state = state_](const boost::system::error_code& ec) {
        if (ec || state->streams.empty()) return;
        state->expired = true;
        for (DbStream* stream : state->streams) stream->close();
    });
}

Deadline::~Deadline() {
    state_->streams.clear();
    state_->timer.cancel();
}

void Deadline::watch(DbStream& stream) {
    state_->streams.push_back(&stream);
}

bool Deadline::expired() const {
    return state_->expired;
}

}  // namespace cloakroom::db
