// Reading one request head on an agent connection, shared by the forward proxy and the reverse
// listener: size limits and strict validation first (http/head_validator), then our own parse
// (http/head.hpp), and Beast's parser only for a body.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <chrono>
#include <memory>

#include "proxy/connection_forward.hpp"
#include "proxy/connection_head.hpp"
#include "proxy/gateway.hpp"

namespace cloakroom::proxy {

// Reads, validates and parses one request head into `request` (fresh). Returns false (after
// answering, when there is something to answer) if the connection must end.
template <class Stream>
boost::asio::awaitable<bool> read_request_head(Stream& stream, boost::beast::flat_buffer& buffer,
                                               IncomingRequest& request, const Gateway& gateway,
                                               std::chrono::seconds timeout,
                                               bool already_armed = false) {
    namespace beast = boost::beast;
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
    const bool parsed = request.head->parse_request(buffer_view(buffer).substr(0, head.size));
    buffer.consume(head.size);
    bool framed = parsed;
    if (parsed && request_has_body(*request.head)) {
        request.body = std::make_unique<RequestParser>();
        framed = frame_request_body(*request.head, *request.body);
    }
    if (!framed) {
        // The validator accepted what the parser cannot read: a defect, answered as such.
        co_await write_error(stream, 400, "bad_request",
                             "malformed request head (accepted by the validator, not parsed)", 11,
                             false);
        co_return false;
    }
    co_return true;
}

}  // namespace cloakroom::proxy
