// Reading one HTTP head off a stream, as raw bytes, so it can be validated strictly
// (http/head_validator.hpp) before Beast parses it: Beast alone accepts obs-fold, duplicate
// identical Content-Length and odd Transfer-Encoding lists, which invite request smuggling.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <optional>
#include <string_view>

#include "http/head_validator.hpp"
#include "proxy/io_now.hpp"

namespace cloakroom::proxy {

struct HeadRead {
    boost::beast::error_code ec;  // I/O failure or EOF before a complete head
    std::size_t size = 0;         // bytes of the head at the front of the buffer
    std::optional<cloakroom::http::HeadRejection> rejection;
    bool got_bytes = false;  // false: the peer closed or timed out before sending anything
};

inline std::string_view buffer_view(const boost::beast::flat_buffer& buffer) {
    return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// Room asked for per read. Responses: a whole TLS record (16 KiB), so a small response arrives
// in one read and a large one hands its first body bytes to the same write as the head.
inline std::size_t head_read_size(bool is_request) {
    return is_request ? 8192 : 16384;
}

// What read_head does without waiting: true when `result` is final (a head, a refusal, or an
// I/O failure); false when the stream has nothing more to read now (read_head then waits). A
// plain call, so that a head that is already here (an agent's request, read after the idle
// wait that announced it) costs no coroutine frame.
template <class Stream>
bool read_head_now(Stream& stream, boost::beast::flat_buffer& buffer,
                   const cloakroom::http::HeadLimits& limits, bool is_request, HeadRead& result) {
    for (;;) {
        const std::string_view view = buffer_view(buffer);
        if (!view.empty()) result.got_bytes = true;
        if (auto end = cloakroom::http::find_head_end(view)) {
            result.size = end->size;
            const std::string_view head = view.substr(0, end->size);
            result.rejection = is_request ? cloakroom::http::validate_request_head(head, limits)
                                          : cloakroom::http::validate_response_head(head, limits);
            if (!result.rejection && end->malformed_terminator) {
                result.rejection = cloakroom::http::HeadRejection{
                    is_request ? 400u : 502u, "header block ends with a bare LF"};
            }
            return true;
        }
        // Refuse as soon as waiting cannot help (too large, a bare LF already seen), instead of
        // holding the connection until the timeout.
        result.rejection = is_request
                               ? cloakroom::http::check_incomplete_request_head(view, limits)
                               : cloakroom::http::check_incomplete_response_head(view, limits);
        if (result.rejection) return true;
        const std::optional<std::size_t> now =
            read_now(stream, buffer.prepare(head_read_size(is_request)), result.ec);
        if (!now) return false;
        buffer.commit(*now);
        if (*now > 0) result.got_bytes = true;
        if (result.ec) return true;
    }
}

// The caller arms the stream's timeout; leftover bytes after the head stay in `buffer`.
// `tried_now`: the caller's read_head_now just returned false, so the first step is the wait.
template <class Stream>
boost::asio::awaitable<HeadRead> read_head(Stream& stream, boost::beast::flat_buffer& buffer,
                                           const cloakroom::http::HeadLimits& limits,
                                           bool is_request, bool tried_now = false) {
    HeadRead result;
    result.got_bytes = buffer.size() > 0;  // what read_head_now saw, when it ran
    for (bool wait = tried_now;; wait = false) {
        if (!wait && read_head_now(stream, buffer, limits, is_request, result)) co_return result;
        std::size_t n = co_await stream.async_read_some(
            buffer.prepare(head_read_size(is_request)),
            boost::asio::redirect_error(boost::asio::use_awaitable, result.ec));
        buffer.commit(n);
        if (n > 0) result.got_bytes = true;
        if (result.ec) co_return result;
    }
}

}  // namespace cloakroom::proxy
