// Beast decodes message bodies (Content-Length counting, chunked decoding, read-until-close);
// heads are parsed by us (http/head.hpp). These give Beast's parser a head that carries only
// the framing of the real one, which the validator has already checked: at most one
// Content-Length, or a single "chunked" Transfer-Encoding, never both.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "http/head.hpp"

namespace cloakroom::proxy {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;
using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

// Whether a request with this head has a body to relay (RFC 9112 §6.3: requests without
// Content-Length or Transfer-Encoding have none).
bool request_has_body(const http::Head& head);

// Prepares `parser` (fresh) to read the body of the request whose head is `head`. False if
// Beast refuses the framing, which the validator should have refused first.
bool frame_request_body(const http::Head& head, RequestParser& parser);

// Prepares `parser` (fresh) to read the body of the response `head`; `head_request`: the
// request was HEAD, so there is no body whatever the fields say.
bool frame_response_body(const http::Head& head, ResponseParser& parser, bool head_request);

}  // namespace cloakroom::proxy
