// Completing a read or write without the event loop when it can complete at once.
//
// Why: Asio delivers an operation that completes inside its initiating call through post(). For a
// coroutine that is a coroutine frame for the initiation, a trip through the scheduler's queue
// (a lock, and with other work queued one more epoll_wait(0)), and a resumption. On a keep-alive
// request most operations complete at once: the request is there when the wait for input ends,
// the request and the response go out in one send each, and a small response body arrives with
// its head. Measured on one connection, that was five epoll_wait calls per request where nginx
// makes none besides its two real waits.
//
// The pattern in a coroutine, with the async operation only as the fallback:
//
//     std::size_t n = 0;
//     if (auto now = read_now(stream, buffer, ec)) n = *now;
//     else n = co_await stream.async_read_some(buffer, redirect_error(use_awaitable, ec));
//
// A stream opts in with read_some_now / write_some_now (TlsStream, PlainStream); for any other
// stream (beast::tcp_stream) the helpers report "would block" and the async path runs as before.
// When read_some_now saw EAGAIN, the stream's next async_read_some waits for readiness first
// instead of repeating the attempt.
//
// Fairness: a thread completes at most kInlineStreak operations in a row this way; the next one
// goes through the event loop (post), which lets the thread's other connections run. Any
// operation that has to wait ends the streak.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <concepts>
#include <cstddef>
#include <optional>
#include <stdexcept>

namespace cloakroom::proxy {

namespace io_now_detail {

inline constexpr int kInlineStreak = 32;

inline int& streak() {
    thread_local int count = 0;
    return count;
}

}  // namespace io_now_detail

// Whether the next operation may complete inline (counts it if so).
inline bool take_inline_turn() {
    int& streak = io_now_detail::streak();
    if (streak >= io_now_detail::kInlineStreak) {
        streak = 0;  // this one goes through the event loop
        return false;
    }
    ++streak;
    return true;
}

// An operation is about to wait in the event loop: other connections get their turn anyway.
inline void end_inline_streak() {
    io_now_detail::streak() = 0;
}

template <class Stream>
concept ReadsNow = requires(Stream& stream, boost::asio::mutable_buffer buffer,
                            boost::beast::error_code& ec) {
    { stream.read_some_now(buffer, ec) } -> std::same_as<std::optional<std::size_t>>;
};

template <class Stream>
concept WritesNow = requires(Stream& stream, boost::asio::const_buffer buffer,
                             boost::beast::error_code& ec) {
    { stream.write_some_now(buffer, ec) } -> std::same_as<std::optional<std::size_t>>;
};

// The bytes read into `buffer` (0 with `ec` set on failure, as async_read_some would deliver
// them), or nothing when only waiting can help: then call async_read_some.
template <class Stream>
std::optional<std::size_t> read_now(Stream& stream, boost::asio::mutable_buffer buffer,
                                    boost::beast::error_code& ec) {
    if constexpr (ReadsNow<Stream>) {
        if (!take_inline_turn()) return std::nullopt;
        auto n = stream.read_some_now(buffer, ec);
        if (!n) end_inline_streak();
        return n;
    } else {
        (void)stream, (void)buffer, (void)ec;
        return std::nullopt;
    }
}

// Writes all of `buffers` while the socket takes them. True when finished: everything written,
// or failed (`ec`). False when a write would block: `written` bytes went out, the caller sends
// the rest with async_write (suffix_after(buffers, written)).
template <class Stream, class ConstBufferSequence>
bool write_all_now(Stream& stream, const ConstBufferSequence& buffers, std::size_t& written,
                   boost::beast::error_code& ec) {
    written = 0;
    if constexpr (WritesNow<Stream>) {
        if (!take_inline_turn()) return false;
        const std::size_t total = boost::asio::buffer_size(buffers);
        boost::beast::buffers_suffix<ConstBufferSequence> rest(buffers);
        while (written < total) {
            const auto n = stream.write_some_now(rest, ec);
            if (!n) {
                end_inline_streak();
                return false;
            }
            if (ec) return true;
            written += *n;
            rest.consume(*n);
        }
        return true;
    } else {
        (void)stream, (void)buffers, (void)ec;
        return false;
    }
}

template <class ConstBufferSequence>
boost::beast::buffers_suffix<ConstBufferSequence> suffix_after(const ConstBufferSequence& buffers,
                                                               std::size_t written) {
    boost::beast::buffers_suffix<ConstBufferSequence> rest(buffers);
    rest.consume(written);
    return rest;
}

// One step of beast::http::async_read_some done inline: the parser takes buffered bytes, and
// while it needs more, the stream is read without waiting. True when it finished the way
// async_read_some would have (progress, or an error in `ec`, including http::error::need_buffer
// and end_of_stream); false when only waiting can help: then call http::async_read_some, which
// picks up from here (unparsed bytes stay in `buffer`).
template <class Stream, class Parser>
bool read_some_parsed_now(Stream& stream, boost::beast::flat_buffer& buffer, Parser& parser,
                          boost::beast::error_code& ec) {
    namespace bhttp = boost::beast::http;
    ec = {};
    for (;;) {
        if (buffer.size() > 0) {
            const std::size_t used = parser.put(buffer.data(), ec);
            buffer.consume(used);
            if (ec != bhttp::error::need_more) return true;
            ec = {};
        }
        const std::size_t size = boost::beast::read_size(buffer, 65536);
        if (size == 0) {
            ec = boost::beast::http::error::buffer_overflow;
            return true;
        }
        boost::asio::mutable_buffer space;
        try {
            space = buffer.prepare(size);
        } catch (const std::length_error&) {
            ec = boost::beast::http::error::buffer_overflow;
            return true;
        }
        const auto n = read_now(stream, space, ec);
        if (!n) return false;
        buffer.commit(*n);
        if (ec == boost::asio::error::eof) {
            // As Beast: a message that may end with the connection ends here; otherwise the
            // stream ended between messages (or mid-message, which put_eof reports).
            if (parser.got_some()) {
                ec = {};
                parser.put_eof(ec);
                return true;
            }
            ec = bhttp::error::end_of_stream;
            return true;
        }
        if (ec) return true;
    }
}

}  // namespace cloakroom::proxy
