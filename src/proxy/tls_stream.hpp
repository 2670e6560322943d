// TLS over a connected TCP socket, for the proxy's data path (agent side and upstream side).
//
// Why not Beast's ssl_stream<tcp_stream>: that stack copies every byte twice more (Asio's
// engine feeds OpenSSL through a BIO pair and 2 x 17 KiB buffers that live as long as the
// connection), flattens writes through a third buffer, and arms a timer around every operation.
// Here OpenSSL reads and writes the socket itself through a small custom BIO (recv/send on the
// non-blocking fd); Asio is only asked to wait for readiness after OpenSSL saw EAGAIN; OpenSSL's
// own buffers are freed before an idle wait (async_wait_input), so an idle connection holds only
// the stream's 512-byte idle receive buffer; and a Watchdog replaces the per-operation timers.
//
// Models Asio's AsyncReadStream / AsyncWriteStream (Beast's http::async_read/async_write work on
// it), plus async_handshake / async_shutdown like asio::ssl::stream. Errors follow asio::ssl:
// close_notify = net::error::eof, a TCP close without it = ssl::error::stream_truncated, OpenSSL
// failures in the ssl category, timeouts = beast::error::timeout. Single-threaded use only (one
// io_context per worker), like every stream here.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/buffer_pool.hpp"
#include "proxy/watchdog.hpp"
#include "runtime/reactor_recv.hpp"

namespace cloakroom::proxy {

class TlsStream {
  public:
    using executor_type = boost::asio::any_io_executor;
    // Largest plaintext per write: one TLS record, one send(2).
    static constexpr std::size_t kMaxRecord = 16384;

    // Takes the connected socket. ok() is false if OpenSSL could not create the session.
    TlsStream(boost::asio::ip::tcp::socket socket, SSL_CTX* context);
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    bool ok() const { return ssl_ != nullptr; }
    SSL* native_handle() { return ssl_; }
    const SSL* native_handle() const { return ssl_; }
    // shutdown() and cancel() end the connection; close() it only through the Watchdog: the BIO
    // keeps the raw fd and would otherwise send (a close_notify) on a number already reused by
    // another connection.
    boost::asio::ip::tcp::socket& socket() { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }

    void expires_after(Watchdog::clock::duration timeout) { watchdog_.expires_after(timeout); }
    void expires_never() { watchdog_.expires_never(); }
    Watchdog& watchdog() { return watchdog_; }

    // Bytes already read off the socket that belong to the TLS stream (a ClientHello sent right
    // behind a CONNECT request): OpenSSL reads them before anything from the socket.
    void set_early_input(std::string_view bytes) { bio_.early.assign(bytes); }

    // Whether bytes already received from the peer wait unread (in OpenSSL's buffers or the
    // stream's own), i.e. a read would return data without touching the socket.
    bool holds_unread_input() const {
        return (ssl_ != nullptr && SSL_has_pending(ssl_) == 1) ||
               bio_.input_begin < bio_.input_end || bio_.idle_begin < bio_.idle_end ||
               bio_.early_used < bio_.early.size();
    }

    // Gives OpenSSL's record buffers (2 x 17 KiB) back while nothing is pending in them; the
    // next read or write allocates them again. For a stream about to sit unused for a while.
    void release_buffers();

    // One non-blocking attempt of an OpenSSL call and what has to happen next.
    struct Attempt {
        enum Kind { Done, WantRead, WantWrite } kind = Done;
        boost::system::error_code ec;
        std::size_t bytes = 0;
    };
    Attempt try_handshake();
    Attempt try_read(void* data, std::size_t size);
    Attempt try_write(const void* data, std::size_t size);
    Attempt try_shutdown();
    Attempt try_peek();

    template <class Token>
    auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token);
    // Sends close_notify (does not wait for the peer's).
    template <class Token>
    auto async_shutdown(Token&& token);
    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token);
    // Completes when application data can be read (or the stream failed), without taking it:
    // lets an idle connection wait with no read buffer of its own. The wait is a receive into
    // the stream's small idle buffer (BioState::idle_input), not a readiness wait: Asio re-arms
    // the descriptor with epoll_ctl for every readiness wait, and the receive also brings a
    // small request's whole record in the same step.
    template <class Token>
    auto async_wait_input(Token&& token);
    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token);

    // One attempt without the event loop (io_now.hpp): the bytes read or written (0 with `ec` on
    // failure), or nothing when it would block. After a read that would block, the next
    // async_read_some waits for the socket before its first attempt.
    std::optional<std::size_t> read_some_now(boost::asio::mutable_buffer buffer,
                                             boost::system::error_code& ec);
    template <class ConstBufferSequence>
    std::optional<std::size_t> write_some_now(const ConstBufferSequence& buffers,
                                              boost::system::error_code& ec);

    // The BIO's view of the socket (tls_stream.cpp).
    struct BioState {
        int fd = -1;
        std::string early;  // see set_early_input
        std::size_t early_used = 0;
        int error = 0;  // errno of the last failed recv/send other than EAGAIN
        // What a receive by the event loop brought (TlsOperation::receive), read before the
        // socket. The chunk comes from the per-thread buffer pool and goes back once drained.
        std::unique_ptr<char[]> input;
        std::size_t input_begin = 0;
        std::size_t input_end = 0;
        int input_error = 0;     // that receive failed (errno), reported once
        bool input_eof = false;  // that receive found the connection closed
        // The last receive came back short or would have blocked: the socket was empty, so the
        // next read goes to the event loop at once instead of trying recv(2) first. The
        // receive itself goes through runtime/reactor_recv.hpp, which tells the reactor the
        // socket was proved empty (Boost 1.74's own recv op would try a speculative recv after
        // every short read). Cleared when the socket is reported readable or a receive fills
        // its chunk.
        bool exhausted = false;
        // What an idle wait received (TlsOperation::receive_idle), read before `input`. 512
        // bytes hold the record of a typical agent request (a token-bearing GET); a larger one
        // is completed from the socket. Inline, so a waiting connection takes no pooled chunk:
        // the budget is 20 KiB per idle connection (measured 19.7 with this buffer).
        std::array<char, 512> idle_input;
        std::uint16_t idle_begin = 0;
        std::uint16_t idle_end = 0;
    };

  private:
    // The socket's reactor, looked up at the first receive (reactor_recv.hpp: the lookup is
    // not free).
    boost::asio::detail::reactor& reactor() {
        if (reactor_ == nullptr) reactor_ = &runtime::reactor_recv_detail::reactor_of(socket_);
        return *reactor_;
    }
    std::optional<std::size_t> delivered(const Attempt& attempt, boost::system::error_code& ec);
    // An inline operation on a timed-out stream fails as an async one would.
    bool refused_after_timeout(boost::system::error_code& ec) const {
        if (!watchdog_.expired()) return false;
        ec = boost::beast::error::timeout;
        return true;
    }
    Attempt failed(int result);
    void start(boost::asio::ssl::stream_base::handshake_type type);
    template <class Action>
    friend class TlsOperation;

    boost::asio::ip::tcp::socket socket_;
    Watchdog watchdog_;
    BioState bio_;
    SSL* ssl_ = nullptr;
    bool read_waits_first_ = false;  // read_some_now saw WANT_READ (see above)
    boost::asio::detail::reactor* reactor_ = nullptr;
    // What the event loop's last receive learnt about the socket (drained, or at its end).
    runtime::reactor_recv_detail::ReadState receive_state_;
};

// The composed operation behind every async_* above: try the OpenSSL call; on WANT_READ /
// WANT_WRITE wait for the socket and try again. A result available at once is delivered through
// post(), never inside the initiating call (Asio's rule; it also bounds coroutine recursion).
template <class Action>
class TlsOperation {
  public:
    TlsOperation(TlsStream& stream, Action action) : stream_(stream), action_(std::move(action)) {}

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
        namespace net = boost::asio;
        switch (phase_) {
            case Phase::Deliver:
                self.complete(result_.ec, result_.bytes);
                return;
            case Phase::Start:
                if (!stream_.watchdog_.begin()) {
                    stream_.read_waits_first_ = false;
                    return finish(self, boost::beast::error::timeout, 0);
                }
                begun_ = true;
                // OpenSSL just said WANT_READ to read_some_now: no new attempt before the socket
                // is readable. Any other operation drops the hint (it may read the socket).
                if (std::exchange(stream_.read_waits_first_, false) && Action::kReads) {
                    return receive(self);
                }
                break;
            case Phase::Waiting:
                if (ec || stream_.watchdog_.expired()) {
                    if (stream_.watchdog_.expired()) ec = boost::beast::error::timeout;
                    return finish(self, ec, 0);
                }
                stream_.bio_.exhausted = false;  // readable (or writable) now: recv may find data
                break;
            case Phase::Receiving:
            case Phase::ReceivingIdle:
                break;  // only the (error_code, size_t) overload below completes a receive
        }
        attempt(self);
    }

    // Completion of receive(): the bytes go to the BIO, then the OpenSSL call is tried again.
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, std::size_t received) {
        TlsStream::BioState& bio = stream_.bio_;
        if (phase_ == Phase::ReceivingIdle) {
            bio.idle_begin = 0;
            bio.idle_end = static_cast<std::uint16_t>(received);
        } else {
            bio.input_end += received;
        }
        // Proved empty by the receive's probe (not merely short: a FIN right behind the bytes
        // leaves the socket "short" but not drained; the next recv then reports the end).
        const runtime::reactor_recv_detail::ReadState& probed = stream_.receive_state_;
        bio.exhausted = !ec && !probed.may_have_more && !probed.eof_pending;
        if (ec || stream_.watchdog_.expired()) {
            if (stream_.watchdog_.expired()) return finish(self, boost::beast::error::timeout, 0);
            if (ec == boost::asio::error::eof) {
                bio.input_eof = true;  // the OpenSSL call sees the close and reports it
            } else {
                return finish(self, ec, 0);
            }
        }
        attempt(self);
    }

  private:
    enum class Phase { Start, Waiting, Receiving, ReceivingIdle, Deliver };

    template <class Self>
    void attempt(Self& self) {
        namespace net = boost::asio;
        const TlsStream::Attempt attempt = action_(stream_);
        switch (attempt.kind) {
            case TlsStream::Attempt::Done:
                return finish(self, attempt.ec, attempt.bytes);
            case TlsStream::Attempt::WantRead:
                // A read is completed by the event loop's receive, an idle wait by a receive
                // into the small idle buffer; anything else (handshake, shutdown, writes) waits
                // for readability.
                if (Action::kReads) return receive(self);
                if (Action::kIdleReceive) return receive_idle(self);
                phase_ = Phase::Waiting;
                waited_ = true;
                stream_.socket_.async_wait(net::socket_base::wait_read, std::move(self));
                return;
            case TlsStream::Attempt::WantWrite:
                phase_ = Phase::Waiting;
                waited_ = true;
                stream_.socket_.async_wait(net::socket_base::wait_write, std::move(self));
                return;
        }
    }

    // Lets the event loop do the recv(2), into a pooled chunk the BIO then drains.
    template <class Self>
    void receive(Self& self) {
        TlsStream::BioState& bio = stream_.bio_;
        if (!bio.input) bio.input = take_pooled_chunk();
        // Anything not yet drained stays, at the front (OpenSSL asks for more only once it has
        // taken everything, so this is normally empty).
        const std::size_t kept = bio.input_end - bio.input_begin;
        if (kept > 0 && bio.input_begin > 0) {
            std::memmove(bio.input.get(), bio.input.get() + bio.input_begin, kept);
        }
        bio.input_begin = 0;
        bio.input_end = kept;
        receive_space_ = kPooledChunk - kept;
        phase_ = Phase::Receiving;
        waited_ = true;
        runtime::reactor_recv_detail::async_recv_when_ready(
            stream_.socket_, stream_.reactor(),
            boost::asio::buffer(bio.input.get() + kept, receive_space_), stream_.receive_state_,
            std::move(self), /*probe_bytes=*/1);
    }

    // An idle wait: a receive into the stream's own small buffer, through
    // runtime/reactor_recv.hpp: queued without an epoll_ctl re-arm (which every async_wait
    // costs) and without a speculative recv once the socket was proved empty; it then holds
    // the next request's first bytes for the BIO.
    template <class Self>
    void receive_idle(Self& self) {
        phase_ = Phase::ReceivingIdle;
        waited_ = true;
        runtime::reactor_recv_detail::async_recv_when_ready(
            stream_.socket_, stream_.reactor(), boost::asio::buffer(stream_.bio_.idle_input),
            stream_.receive_state_, std::move(self), /*probe_bytes=*/1);
    }

    template <class Self>
    void finish(Self& self, boost::system::error_code ec, std::size_t bytes) {
        if (begun_) {
            stream_.watchdog_.end();
            begun_ = false;
        }
        if (waited_) {
            self.complete(ec, bytes);
            return;
        }
        phase_ = Phase::Deliver;
        result_.ec = ec;
        result_.bytes = bytes;
        boost::asio::post(std::move(self));
    }

    TlsStream& stream_;
    Action action_;
    Phase phase_ = Phase::Start;
    bool begun_ = false;
    bool waited_ = false;
    std::size_t receive_space_ = 0;
    TlsStream::Attempt result_;
};

namespace tls_stream_detail {

struct Handshake {
    static constexpr bool kReads = false;
    static constexpr bool kIdleReceive = false;
    TlsStream::Attempt operator()(TlsStream& stream) const { return stream.try_handshake(); }
};

struct Shutdown {
    static constexpr bool kReads = false;
    static constexpr bool kIdleReceive = false;
    TlsStream::Attempt operator()(TlsStream& stream) const { return stream.try_shutdown(); }
};

struct WaitInput {
    static constexpr bool kReads = false;
    static constexpr bool kIdleReceive = true;
    TlsStream::Attempt operator()(TlsStream& stream) const { return stream.try_peek(); }
};

template <class MutableBufferSequence>
struct ReadSome {
    static constexpr bool kReads = true;
    static constexpr bool kIdleReceive = false;
    MutableBufferSequence buffers;
    TlsStream::Attempt operator()(TlsStream& stream) const {
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it) {
            const boost::asio::mutable_buffer buffer = *it;
            if (buffer.size() > 0) return stream.try_read(buffer.data(), buffer.size());
        }
        return {};  // nothing asked for: 0 bytes at once, as for a socket
    }
};

// A gather list becomes one record: copied into a per-thread scratch buffer. A retry after
// WANT_WRITE copies the same bytes again (the caller keeps its buffers until completion, and
// SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the address differ).
template <class ConstBufferSequence>
struct WriteSome {
    static constexpr bool kReads = false;
    static constexpr bool kIdleReceive = false;
    ConstBufferSequence buffers;
    TlsStream::Attempt operator()(TlsStream& stream) const {
        namespace net = boost::asio;
        auto it = net::buffer_sequence_begin(buffers);
        const auto end = net::buffer_sequence_end(buffers);
        while (it != end && net::const_buffer(*it).size() == 0) ++it;
        if (it == end) return {};
        const net::const_buffer first = *it;
        auto next = it;
        ++next;
        while (next != end && net::const_buffer(*next).size() == 0) ++next;
        if (next == end || first.size() >= TlsStream::kMaxRecord) {
            return stream.try_write(first.data(), std::min(first.size(), TlsStream::kMaxRecord));
        }
        thread_local char scratch[TlsStream::kMaxRecord];
        const std::size_t n = net::buffer_copy(net::buffer(scratch), buffers);
        return stream.try_write(scratch, n);
    }
};

}  // namespace tls_stream_detail

template <class ConstBufferSequence>
std::optional<std::size_t> TlsStream::write_some_now(const ConstBufferSequence& buffers,
                                                     boost::system::error_code& ec) {
    read_waits_first_ = false;  // conservative: OpenSSL may read during a write
    if (refused_after_timeout(ec)) return 0;
    return delivered(tls_stream_detail::WriteSome<ConstBufferSequence>{buffers}(*this), ec);
}

template <class Token>
auto TlsStream::async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    start(type);
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOperation<tls_stream_detail::Handshake>(*this, {}), token);
}

template <class Token>
auto TlsStream::async_shutdown(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOperation<tls_stream_detail::Shutdown>(*this, {}), token);
}

template <class Token>
auto TlsStream::async_wait_input(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOperation<tls_stream_detail::WaitInput>(*this, {}), token);
}

template <class MutableBufferSequence, class Token>
auto TlsStream::async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOperation<tls_stream_detail::ReadSome<MutableBufferSequence>>(*this, {buffers}), token);
}

template <class ConstBufferSequence, class Token>
auto TlsStream::async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        TlsOperation<tls_stream_detail::WriteSome<ConstBufferSequence>>(*this, {buffers}), token);
}

}  // namespace cloakroom::proxy
