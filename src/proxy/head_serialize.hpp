// HTTP/1 heads as bytes, for the forwarding fast paths: a request without a body goes upstream
// as one write of its head, and a response that is not chunked goes back as its head followed
// by the raw body bytes, without Beast's serializer (a buffer-sequence iterator per field and a
// composed write per chunk). Output is byte-for-byte what Beast's serializer writes for the same
// header (pinned by proxy_head_serialize_test); chunked messages still go through Beast.
#pragma once

#include <boost/beast/http/message.hpp>
#include <string>

namespace cloakroom::proxy {

// "<method> <target> HTTP/x.y\r\n" + "Name: value\r\n"... + "\r\n"
std::string serialize_request_head(const boost::beast::http::request_header<>& header);
// "HTTP/x.y <code> <reason>\r\n" + fields + "\r\n"; the reason is the message's own, or the
// standard phrase for the code when it has none (as Beast does).
std::string serialize_response_head(const boost::beast::http::response_header<>& header);

}  // namespace cloakroom::proxy
