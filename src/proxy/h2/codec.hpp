// The HTTP/2 codec: what turns a stream's header block into the HTTP/1.1 head the one exchange
// pipeline reads (exchange_pipeline.hpp), and a response head into an HTTP/2 header list. HTTP/2
// is a codec and a front end, not a second pipeline: the request text built here goes through
// the same strict validator (http/head_validator.hpp) and parser as a request read off an
// HTTP/1.1 connection, then the same plan, injection and redaction. Pure logic, no I/O.
//
// nghttp2 has already checked what RFC 9113 §8.2 asks of the block (lowercase names, no CR, LF or
// NUL, pseudo-headers first and once, no connection-specific fields, content-length against
// the DATA frames).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "http/head.hpp"
#include "http/head_validator.hpp"
#include "runtime/refusal.hpp"

namespace cloakroom::proxy::h2 {

// One request's header block as it arrives, field by field.
class RequestFields {
  public:
    explicit RequestFields(const http::HeadLimits& limits) : limits_(limits) {}

    // A field of the block. Past the limits nothing more is kept (an HPACK bomb costs nothing
    // here) and the request is answered 431.
    void add(std::string_view name, std::string_view value);

    std::string_view method() const { return method_; }
    std::string_view authority() const { return authority_; }
    std::string_view path() const { return path_; }
    bool too_large() const { return too_large_; }
    // An RFC 8441 extended CONNECT for a WebSocket (`:method CONNECT`, `:protocol websocket`).
    bool websocket() const;

    // The request as an HTTP/1.1 head (start line, Host from :authority, the fields, cookies
    // joined, chunked framing when a body without content-length follows), validated like a
    // head read off an HTTP/1.1 connection; or why it is refused.
    //
    // An extended CONNECT for a WebSocket becomes the HTTP/1.1 opening handshake it stands for
    // (RFC 8441 §5): `GET :path`, `Upgrade: websocket`, `Connection: Upgrade` and
    // `Sec-WebSocket-Key: websocket_key` (HTTP/2 has no key; the gateway, the upstream's HTTP/1.1
    // client, checks the answer's Sec-WebSocket-Accept against it), so that the plan, the rules,
    // the injection and the relay are those of an HTTP/1.1 upgrade. Its DATA frames are the
    // WebSocket's bytes, not a body. A plain CONNECT (a tunnel) and any other `:protocol` are
    // refused.
    std::variant<std::string, runtime::Refusal> to_http1(bool has_body,
                                                         std::string_view websocket_key = {}) const;

  private:
    const http::HeadLimits& limits_;
    std::string method_;
    std::string scheme_;
    std::string authority_;
    std::string path_;
    std::string protocol_;  // RFC 8441 :protocol (extended CONNECT)
    std::vector<std::pair<std::string, std::string>> fields_;
    std::size_t bytes_ = 0;
    bool too_large_ = false;
};

// An HTTP/2 header list built from a response head or trailers: lowercase names (RFC 9113
// §8.2.2), the connection-specific fields left out. The name-value pairs point into the list's
// own storage; nghttp2 copies them when the list is submitted.
class HeaderList {
  public:
    // ":status" and the head's fields (the caller removed hop-by-hop fields; Transfer-Encoding
    // and other connection-specific fields go here).
    void response(const http::Head& head);
    // Arbitrary fields (trailers), with the same filtering.
    void fields(const std::vector<std::pair<std::string, std::string>>& fields);
    void add(std::string_view name, std::string_view value);

    const nghttp2_nv* data() const { return nv_.data(); }
    std::size_t size() const { return nv_.size(); }
    const std::vector<nghttp2_nv>& entries() const { return nv_; }

  private:
    std::deque<std::string> owned_;  // a deque never moves its elements
    std::vector<nghttp2_nv> nv_;
};

// Whether an HTTP/1.1 field may not appear in HTTP/2 (RFC 9113 §8.2.2).
bool is_connection_specific(std::string_view name);

}  // namespace cloakroom::proxy::h2
