// Reading one request head on an agent connection, shared by the forward proxy and the reverse
// listener: size limits and strict validation first (http/head_validator), then Beast's parser.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <chrono>
#include <limits>

#include "proxy/connection_forward.hpp"
#include "proxy/connection_head.hpp"
#include "proxy/gateway.hpp"

namespace cloakroom::proxy {

// Reads, validates and parses one request head. Returns false (after answering, when there
// is something to answer) if the connection must end.
template <class Stream>
boost::asio::awaitable<bool> read_request_head(Stream& stream, boost::beast::flat_buffer& buffer,
                                               RequestParser& parser, const Gateway& gateway,
                                               std::chrono::seconds timeout,
                                               bool already_armed = false) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace bhttp = boost::beast::http;
    // Already armed: the caller waited for the first bytes under the same deadline, which
    // covers the whole head (a slow sender gets no second allowance).
    if (!already_armed) beast::get_lowest_layer(stream).expires_after(timeout);
    HeadRead head = co_await read_head(stream, buffer, gateway.limits, /*is_request=*/true);
    if (head.rejection) {
        const unsigned status = head.rejection->status;
        co_await write_error(stream, status,
                             status == 431 ? "header_too_large"
                                           : (status == 501 ? "not_implemented" : "bad_request"),
                             head.rejection->reason, 11, false);
        co_return false;
    }
    if (head.ec) co_return false;  // closed, reset or idle timeout: nothing to answer
    // Not boost::none: Beast 1.74 then refuses every Content-Length (helper finding, pinned by
    // http_beast_agreement_test).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(static_cast<std::uint32_t>(gateway.limits.max_head_bytes + 1));
    beast::error_code ec;
    parser.put(net::buffer(buffer.data().data(), head.size), ec);
    buffer.consume(head.size);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec || !parser.is_header_done()) {
        co_await write_error(stream, 400, "bad_request",
                             "malformed request head: " + (ec ? ec.message() : "incomplete"), 11,
                             false);
        co_return false;
    }
    co_return true;
}

}  // namespace cloakroom::proxy
