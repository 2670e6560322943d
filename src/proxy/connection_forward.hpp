// One request through the pipeline, for any client stream (plain TCP for absolute-form, TLS
// after an intercepted CONNECT):
//   check Host → normalize target → authorize → plan + apply injection → forward over verified
//   TLS (pooled) → stream the response back through the redactor → audit.
// Each stage is a pure function in its own file; this is only the I/O that strings them together.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/model.hpp"
#include "http/head.hpp"
#include "proxy/body_framing.hpp"
#include "proxy/gateway.hpp"
#include "proxy/head_pool.hpp"
#include "proxy/route.hpp"

namespace cloakroom::proxy {

// One request as read from the agent: the head, parsed by us (http/head.hpp) after strict
// validation, and for a request with a body, Beast's parser to decode it. That parser is given
// only the framing (frame_request_body), since the head itself is already ours. The parser
// (280 bytes) is allocated only for a request with a body: an IncomingRequest lives in the
// coroutine frames an idle connection keeps.
struct IncomingRequest {
    HeadLease head;
    std::unique_ptr<RequestParser> body;  // set when the request has a body

    bool body_pending() const { return body != nullptr && !body->is_done(); }
    // Beast's notation, as write_error takes it: 10 or 11.
    unsigned version() const { return 10 + head->minor_version(); }
};

struct RequestContext {
    std::shared_ptr<const Runtime> runtime;
    Route route;                      // the connection target (CONNECT / absolute URI)
    std::uint16_t upstream_port = 0;  // the port dialed upstream; 0 = route.port
    std::optional<std::string> proxy_authorization;  // from the CONNECT, if any
    bool sni_mismatch = false;
    bool absolute_form = false;  // target is "http://host/path"
    // Reverse base-URL listener: the route came from the path prefix (route_reverse) and the
    // Host header names Cloakroom itself, so it is not compared with the route.
    bool reverse = false;
    std::string client;  // peer address, for the audit log
};

// Returns true when the client connection may carry another request.
template <class ClientStream>
boost::asio::awaitable<bool> forward_request(ClientStream& client,
                                             boost::beast::flat_buffer& client_buffer,
                                             IncomingRequest& request,
                                             const RequestContext& context, Worker& worker);

// Writes a Cloakroom error response (JSON body) and returns whether the connection may go on.
template <class Stream>
boost::asio::awaitable<bool> write_error(Stream& stream, unsigned status, std::string_view error,
                                         std::string_view reason, unsigned version,
                                         bool keep_alive);

}  // namespace cloakroom::proxy

#include "proxy/connection_forward_impl.hpp"
