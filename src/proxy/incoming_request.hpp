// One request as read from the agent: the head, parsed by us (http/head.hpp) after strict
// validation, and for a request with a body, Beast's parser to decode it. That parser is given
// only the framing (frame_request_body), since the head itself is already ours. The parser
// (280 bytes) is allocated only for a request with a body: an IncomingRequest lives in the
// coroutine frames an idle connection keeps.
#pragma once

#include <memory>

#include "proxy/body_framing.hpp"
#include "proxy/head_pool.hpp"

namespace cloakroom::proxy {

struct IncomingRequest {
    HeadLease head;
    std::unique_ptr<RequestParser> body;  // set when the request has a body

    bool body_pending() const { return body != nullptr && !body->is_done(); }
    // Beast's notation, as write_error takes it: 10 or 11.
    unsigned version() const { return 10 + head->minor_version(); }
};

}  // namespace cloakroom::proxy
