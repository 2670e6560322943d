// A read on a plain TCP socket that waits for the reactor's readiness report without costing a
// system call of its own: neither the `recv` that fails with EAGAIN (Asio's speculative read)
// nor the `epoll_ctl` re-arm (Asio's async_wait). Used by SocketIo (socket_io.hpp) only after a
// short read, i.e. when the socket is known to be drained.
//
// How: Boost 1.74's epoll reactor registers each socket edge-triggered and keeps, per socket, a
// flag "an edge was reported since a read last found the socket empty" (try_speculative_). Its
// own recv operation clears the flag only on end of stream, so every read after a short read
// tries a recv that fails. This operation tells the reactor "exhausted" when its read proved the
// socket empty, which clears the flag. Data queued after that raises a new edge: reported while
// a read is queued, it performs it; reported while none is, it sets the flag again and the next
// start tries the recv first. So no readiness report is lost, for this operation or for Asio's
// own on the same socket (the TLS handshake, async_read).
//
// "Proved empty" needs care: a short recv is not enough, because TCP hands out the data and
// consumes a FIN queued behind it in the same call without saying so, and the FIN's edge is
// already spent; waiting for another edge would hang. So read_and_probe() reads with
// recvmmsg(2) of two messages: the first takes the bytes, the second (the buffer's tail) finds
// EAGAIN (empty: drained), 0 (end of stream after the bytes), or more bytes, all in one system
// call. A limit: a reset that follows the bytes is reported by the kernel on the next call only
// (recvmmsg keeps the second message's error for then), so it looks like "empty"; the session
// then ends with the next write to that side instead.
//
// This relies on Asio internals (boost::asio::detail::epoll_reactor::start_op and reactor_op),
// pinned by Debian 12's Boost 1.74; the static_assert below stops the build on another version.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

namespace cloakroom::runtime::reactor_recv_detail {

static_assert(BOOST_VERSION / 100 == 1074,
              "reactor_recv.hpp uses Boost 1.74's epoll reactor internals; re-check them");

namespace ad = boost::asio::detail;
using tcp = boost::asio::ip::tcp;

// The socket's registration with the reactor (protected in basic_socket; a pointer to member
// named through a derived class may reach it).
struct SocketAccess : tcp::socket {
    static ad::reactor::per_descriptor_data& reactor_data(tcp::socket& socket) {
        return (socket.*&SocketAccess::impl_).get_implementation().reactor_data_;
    }
};

// What read_and_probe() learnt besides the bytes.
struct ReadState {
    bool may_have_more = true;  // neither drained nor at the end: read again at once
    bool eof_pending = false;   // the peer's FIN came right after the bytes returned
};

// One non-blocking read of up to into.size() bytes that also tells whether the socket is now
// empty or at its end (see the file comment). Returns the bytes (> 0), 0 at the end of the
// stream, or -1 with errno (EAGAIN: nothing to read). `probe_bytes` (0: the default split)
// sizes the second message: reads of up to into.size() - probe_bytes bytes are known drained.
inline ssize_t read_and_probe(int fd, boost::asio::mutable_buffer into, ReadState& state,
                              std::size_t probe_bytes = 0) {
    char* data = static_cast<char*>(into.data());
    const std::size_t size = into.size();
    const std::size_t tail =
        probe_bytes != 0 ? std::min(probe_bytes, size / 2) : std::min<std::size_t>(size / 2, 4096);
    if (tail == 0) {  // a one-byte buffer: no room to probe
        state.may_have_more = true;
        return ::recv(fd, data, size, MSG_DONTWAIT);
    }
    iovec iov[2] = {{data, size - tail}, {data + size - tail, tail}};
    mmsghdr messages[2];
    std::memset(messages, 0, sizeof messages);
    messages[0].msg_hdr.msg_iov = &iov[0];
    messages[0].msg_hdr.msg_iovlen = 1;
    messages[1].msg_hdr.msg_iov = &iov[1];
    messages[1].msg_hdr.msg_iovlen = 1;
    int got = 0;
    do {
        got = ::recvmmsg(fd, messages, 2, MSG_DONTWAIT, nullptr);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return -1;
    const std::size_t first = messages[0].msg_len;
    if (got == 1) {  // the second found nothing (EAGAIN): drained
        state.may_have_more = false;
        return static_cast<ssize_t>(first);
    }
    const std::size_t second = messages[1].msg_len;
    if (second == 0) {  // the end of the stream, right after `first` bytes (maybe none)
        state.may_have_more = false;
        state.eof_pending = first > 0;
        return static_cast<ssize_t>(first);
    }
    if (first < size - tail) std::memmove(data + first, data + size - tail, second);
    state.may_have_more = true;
    return static_cast<ssize_t>(first + second);
}

template <class Handler>
class RecvOp final : public ad::reactor_op {
  public:
    RecvOp(int fd, boost::asio::mutable_buffer into, ReadState& state, std::size_t probe_bytes,
           Handler handler)
        : ad::reactor_op(boost::system::error_code(), &RecvOp::perform_recv, &RecvOp::complete),
          fd_(fd),
          into_(into),
          state_(state),
          probe_bytes_(probe_bytes),
          handler_(std::move(handler)) {}

  private:
    // Runs while the caller awaits this operation (its ReadState is alive).
    static status perform_recv(ad::reactor_op* base) {
        auto* op = static_cast<RecvOp*>(base);
        const ssize_t n = read_and_probe(op->fd_, op->into_, op->state_, op->probe_bytes_);
        if (n > 0) {
            op->bytes_transferred_ = static_cast<std::size_t>(n);
            return op->state_.may_have_more || op->state_.eof_pending ? done : done_and_exhausted;
        }
        if (n == 0) {
            op->ec_ = boost::asio::error::eof;
            return done;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
        op->ec_ = boost::system::error_code(errno, boost::system::system_category());
        return done;
    }

    // owner == nullptr: the io_context is being destroyed; the handler is dropped, not called.
    static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                         std::size_t) {
        auto* op = static_cast<RecvOp*>(base);
        Handler handler(std::move(op->handler_));
        const boost::system::error_code ec = op->ec_;
        const std::size_t n = op->bytes_transferred_;
        delete op;
        if (owner != nullptr) std::move(handler)(ec, n);
    }

    int fd_;
    boost::asio::mutable_buffer into_;
    ReadState& state_;
    std::size_t probe_bytes_;
    Handler handler_;
};

// Completes with (error_code, bytes): at least one byte, or eof / an error (operation_aborted
// when the socket is closed meanwhile). `socket` must stay open until then or be closed through
// its own close(), which completes the operation. The handler is called on the thread running
// the socket's io_context (no dispatch through the handler's executor): the awaiting coroutine
// must run on that io_context, as every relay does (one io_context per worker thread).
// `reactor`: the socket's io_context's reactor (reactor_of(socket); looked up once per socket,
// as the lookup locks the service registry and compares type names).
template <class Token>
auto async_recv_when_ready(tcp::socket& socket, ad::reactor& reactor,
                           boost::asio::mutable_buffer into, ReadState& state, Token&& token,
                           std::size_t probe_bytes = 0) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [&socket, &reactor, into, &state, probe_bytes](auto handler) {
            using Op = RecvOp<std::decay_t<decltype(handler)>>;
            auto* op = new Op(socket.native_handle(), into, state, probe_bytes, std::move(handler));
            reactor.start_op(ad::reactor::read_op, socket.native_handle(),
                             SocketAccess::reactor_data(socket), op, /*is_continuation=*/true,
                             /*allow_speculative=*/true);
        },
        token);
}

inline ad::reactor& reactor_of(tcp::socket& socket) {
    return boost::asio::use_service<ad::reactor>(
        boost::asio::query(socket.get_executor(), boost::asio::execution::context));
}

}  // namespace cloakroom::runtime::reactor_recv_detail
