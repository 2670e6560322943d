#include "proxy/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <cstring>

namespace cloakroom::proxy {
namespace net = boost::asio;

namespace {

using BioState = TlsStream::BioState;

BioState& state_of(BIO* bio) {
    return *static_cast<BioState*>(BIO_get_data(bio));
}

// SSL_get_error needs an empty queue before each call. ERR_clear_error resets all 16 slots
// every time; the queue is almost always empty already, which a peek tells more cheaply.
void clear_error_queue() {
    if (ERR_peek_error() != 0) ERR_clear_error();
}

bool would_block(int error) {
    return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

int bio_read(BIO* bio, char* out, int size) {
    BioState& state = state_of(bio);
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    if (state.early_used < state.early.size()) {
        const std::size_t n =
            std::min(static_cast<std::size_t>(size), state.early.size() - state.early_used);
        std::memcpy(out, state.early.data() + state.early_used, n);
        state.early_used += n;
        if (state.early_used == state.early.size()) {
            state.early.clear();
            state.early.shrink_to_fit();
            state.early_used = 0;
        }
        return static_cast<int>(n);
    }
    if (state.idle_begin < state.idle_end) {  // what an idle wait received
        const std::size_t n = std::min(static_cast<std::size_t>(size),
                                       static_cast<std::size_t>(state.idle_end - state.idle_begin));
        std::memcpy(out, state.idle_input.data() + state.idle_begin, n);
        state.idle_begin = static_cast<std::uint16_t>(state.idle_begin + n);
        return static_cast<int>(n);
    }
    if (state.input_begin < state.input_end) {  // what the event loop received
        const std::size_t n =
            std::min(static_cast<std::size_t>(size), state.input_end - state.input_begin);
        std::memcpy(out, state.input.get() + state.input_begin, n);
        state.input_begin += n;
        if (state.input_begin == state.input_end) {
            state.input_begin = state.input_end = 0;
            return_pooled_chunk(std::move(state.input));
        }
        return static_cast<int>(n);
    }
    if (state.input_eof) return 0;  // the peer closed the TCP connection
    if (state.exhausted) {
        // Known empty: no recv(2) that would only say EAGAIN; the event loop receives next.
        BIO_set_retry_read(bio);
        return -1;
    }
    const ssize_t n = ::recv(state.fd, out, static_cast<std::size_t>(size), 0);
    if (n >= 0) {  // 0: the peer closed the TCP connection
        state.exhausted = n > 0 && n < size;
        return static_cast<int>(n);
    }
    if (would_block(errno)) {
        state.exhausted = true;
        BIO_set_retry_read(bio);
        return -1;
    }
    state.error = errno;
    return -1;
}

int bio_write(BIO* bio, const char* in, int size) {
    BioState& state = state_of(bio);
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    const ssize_t n = ::send(state.fd, in, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (would_block(errno)) {
        BIO_set_retry_write(bio);
        return -1;
    }
    state.error = errno;
    return -1;
}

long bio_ctrl(BIO*, int command, long, void*) {
    // Only flush is meaningful: writes go straight to the socket. Everything else (kTLS
    // queries, pending counts, ...) is "not supported", which OpenSSL treats as absent.
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

const BIO_METHOD* socket_bio_method() {
    // Created once, never freed (process lifetime), like OpenSSL's own methods.
    static const BIO_METHOD* method = [] {
        BIO_METHOD* m =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cloakroom socket");
        if (m == nullptr) return static_cast<BIO_METHOD*>(nullptr);
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        return m;
    }();
    return method;
}

}  // namespace

TlsStream::TlsStream(net::ip::tcp::socket socket, SSL_CTX* context)
    : socket_(std::move(socket)), watchdog_(socket_.get_executor(), socket_) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec || context == nullptr || socket_bio_method() == nullptr) return;
    bio_.fd = socket_.native_handle();
    SSL* ssl = SSL_new(context);
    if (ssl == nullptr) return;
    BIO* bio = BIO_new(socket_bio_method());
    if (bio == nullptr) {
        SSL_free(ssl);
        return;
    }
    BIO_set_data(bio, &bio_);
    SSL_set_bio(ssl, bio, bio);  // one reference, owned by the SSL from here on
    // Partial writes: one record per SSL_write (write_some semantics). Moving buffer: a retry
    // may come from the per-thread scratch buffer. Not SSL_MODE_RELEASE_BUFFERS, which the
    // contexts set for every other user (tls/contexts.cpp) and SSL_new copies: it frees and
    // re-allocates (zeroed) both 17 KiB buffers around every read and write. An idle wait frees
    // them instead (try_peek).
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    // One recv for a whole record (or several) instead of one for its header and one for its
    // body.
    SSL_set_read_ahead(ssl, 1);
    ssl_ = ssl;
}

TlsStream::~TlsStream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
}

void TlsStream::start(net::ssl::stream_base::handshake_type type) {
    if (ssl_ == nullptr) return;
    if (type == net::ssl::stream_base::server) {
        SSL_set_accept_state(ssl_);
    } else {
        SSL_set_connect_state(ssl_);
    }
}

TlsStream::Attempt TlsStream::failed(int result) {
    Attempt attempt;
    const int error = SSL_get_error(ssl_, result);
    switch (error) {
        case SSL_ERROR_WANT_READ:
            attempt.kind = Attempt::WantRead;
            return attempt;
        case SSL_ERROR_WANT_WRITE:
            attempt.kind = Attempt::WantWrite;
            return attempt;
        case SSL_ERROR_ZERO_RETURN:
            attempt.ec = net::error::eof;  // close_notify
            return attempt;
        case SSL_ERROR_SYSCALL:
            if (bio_.error != 0) {
                attempt.ec =
                    boost::system::error_code(bio_.error, boost::system::system_category());
            } else {
                attempt.ec = net::ssl::error::stream_truncated;
            }
            ERR_clear_error();
            return attempt;
        default: {
            const unsigned long code = ERR_peek_error();
            if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
                ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                attempt.ec = net::ssl::error::stream_truncated;
                ERR_clear_error();
            } else if (code != 0) {
                // Like asio::ssl: the first queued error (the rest stays for diagnostics).
                attempt.ec = boost::system::error_code(static_cast<int>(ERR_get_error()),
                                                       net::error::get_ssl_category());
            } else {
                attempt.ec = net::ssl::error::unspecified_system_error;
            }
            return attempt;
        }
    }
}

TlsStream::Attempt TlsStream::try_handshake() {
    if (ssl_ == nullptr) return {Attempt::Done, net::error::bad_descriptor, 0};
    clear_error_queue();
    bio_.error = 0;
    const int result = SSL_do_handshake(ssl_);
    if (result == 1) return {};
    return failed(result);
}

TlsStream::Attempt TlsStream::try_read(void* data, std::size_t size) {
    if (ssl_ == nullptr) return {Attempt::Done, net::error::bad_descriptor, 0};
    clear_error_queue();
    bio_.error = 0;
    std::size_t read = 0;
    const int result = SSL_read_ex(ssl_, data, std::min<std::size_t>(size, INT_MAX), &read);
    if (result == 1) return {Attempt::Done, {}, read};
    return failed(result);
}

TlsStream::Attempt TlsStream::try_write(const void* data, std::size_t size) {
    if (ssl_ == nullptr) return {Attempt::Done, net::error::bad_descriptor, 0};
    clear_error_queue();
    bio_.error = 0;
    std::size_t written = 0;
    const int result = SSL_write_ex(ssl_, data, size, &written);
    if (result == 1) return {Attempt::Done, {}, written};
    return failed(result);
}

std::optional<std::size_t> TlsStream::delivered(const Attempt& attempt,
                                                boost::system::error_code& ec) {
    if (attempt.kind != Attempt::Done) {
        ec = {};
        return std::nullopt;
    }
    ec = attempt.ec;
    return attempt.bytes;
}

std::optional<std::size_t> TlsStream::read_some_now(net::mutable_buffer buffer,
                                                    boost::system::error_code& ec) {
    read_waits_first_ = false;
    if (refused_after_timeout(ec)) return 0;
    if (buffer.size() == 0) {
        ec = {};
        return 0;
    }
    const Attempt attempt = try_read(buffer.data(), buffer.size());
    read_waits_first_ = attempt.kind == Attempt::WantRead;
    return delivered(attempt, ec);
}

TlsStream::Attempt TlsStream::try_peek() {
    if (ssl_ == nullptr) return {Attempt::Done, net::error::bad_descriptor, 0};
    // Nothing received and unread anywhere, and the socket known empty: SSL_peek could only
    // end in WANT_READ (its BIO read refuses while exhausted). Skipping it saves a pass through
    // the record layer and the error queue on every idle wait of a keep-alive connection.
    if (bio_.exhausted && !bio_.input_eof && bio_.input_error == 0 && !holds_unread_input()) {
        SSL_free_buffers(ssl_);
        return {Attempt::WantRead, {}, 0};
    }
    clear_error_queue();
    bio_.error = 0;
    char byte;
    std::size_t peeked = 0;
    const int result = SSL_peek_ex(ssl_, &byte, 1, &peeked);
    if (result == 1) return {};
    Attempt attempt = failed(result);
    // About to wait, maybe for a long time: give OpenSSL's read and write buffers back (it
    // refuses while they hold anything, which is fine).
    if (attempt.kind != Attempt::Done && SSL_free_buffers(ssl_) != 1) {
        // Still holding bytes (a partial record): they stay until the next read.
    }
    return attempt;
}

void TlsStream::release_buffers() {
    // Refused (returns 0) while a buffer holds bytes, which is fine: they stay until used.
    if (ssl_ != nullptr) SSL_free_buffers(ssl_);
}

TlsStream::Attempt TlsStream::try_shutdown() {
    if (ssl_ == nullptr) return {Attempt::Done, net::error::bad_descriptor, 0};
    clear_error_queue();
    bio_.error = 0;
    const int result = SSL_shutdown(ssl_);
    if (result >= 0) return {};  // 0: ours sent; the peer's close_notify is not awaited
    Attempt attempt = failed(result);
    if (attempt.kind == Attempt::WantRead) attempt = {};  // nothing more to send
    return attempt;
}

}  // namespace cloakroom::proxy
