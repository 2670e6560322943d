// Reading one request head on an agent connection, shared by every HTTP/1 front end: size
// limits and strict validation first (http/head_validator), then our own parse (http/head.hpp),
// and Beast's parser only for a body. A refused head is an exchange like any other: it gets an
// audit record (docs/architecture.md, "Audit").
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include "proxy/connection_head.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/gateway.hpp"
#include "proxy/incoming_request.hpp"
#include "runtime/exchange.hpp"

namespace cloakroom::proxy {

// Reads, validates and parses one request head into `request` (fresh). Returns false (after
// answering and auditing, when there is something to answer) if the connection must end.
// `client` is the agent's address, for the audit record.
template <class Stream>
boost::asio::awaitable<bool> read_request_head(Stream& stream, boost::beast::flat_buffer& buffer,
                                               IncomingRequest& request, const Gateway& gateway,
                                               std::string_view client,
                                               std::chrono::seconds timeout,
                                               bool already_armed = false) {
    namespace beast = boost::beast;
    // Already armed: the caller waited for the first bytes under the same deadline, which
    // covers the whole head (a slow sender gets no second allowance).
    if (!already_armed) beast::get_lowest_layer(stream).expires_after(timeout);
    // Usually the whole head is here already (the idle wait saw its first bytes): no coroutine
    // frame for it then.
    HeadRead head;
    if (!read_head_now(stream, buffer, gateway.limits, /*is_request=*/true, head)) {
        head = co_await read_head(stream, buffer, gateway.limits, /*is_request=*/true,
                                  /*tried_now=*/true);
    }
    // Named, not a temporary in the co_await expression: GCC 12 may destroy such temporaries
    // twice (GCC PR 100611).
    std::optional<runtime::Refusal> refusal;
    if (head.rejection) {
        const unsigned status = head.rejection->status;
        refusal =
            runtime::Refusal{status,
                             status == 431 ? "header_too_large"
                                           : (status == 501 ? "not_implemented" : "bad_request"),
                             head.rejection->reason};
    } else if (head.ec) {
        co_return false;  // closed, reset or idle timeout: nothing to answer
    } else {
        const bool parsed = request.head->parse_request(buffer_view(buffer).substr(0, head.size));
        buffer.consume(head.size);
        bool framed = parsed;
        if (parsed && request_has_body(*request.head)) {
            request.body = std::make_unique<RequestParser>();
            framed = frame_request_body(*request.head, *request.body);
        }
        if (framed) co_return true;
        // The validator accepted what the parser cannot read: a defect, answered as such.
        refusal = runtime::Refusal{
            400, "bad_request", "malformed request head (accepted by the validator, not parsed)"};
    }
    runtime::Exchange exchange(gateway.runtime.get()->audit, runtime::kAuditHttp, client);
    co_return co_await answer_refusal(stream, exchange, *refusal, 11, false);
}

}  // namespace cloakroom::proxy
