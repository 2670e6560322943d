// How message bodies are delimited. Heads are parsed by us (http/head.hpp). A response body with
// a Content-Length, or read until the upstream closes, is counted here (ResponseBody): its
// bytes go from the buffer or the stream to the relay as they are. Chunked bodies, and request
// bodies, are decoded by Beast's parser, given a head that carries only the framing of the real
// one, which the validator has already checked: at most one Content-Length, or a single
// "chunked" Transfer-Encoding, never both.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// The body of one response, as far as it has been read.
class ResponseBody {
  public:
    enum class Kind {
        None,        // HEAD request, 204, 304 (RFC 9112 §6.3), or Content-Length: 0
        Length,      // Content-Length: counted here
        Chunked,     // Beast's parser decodes it (parser())
        UntilClose,  // no framing: the body ends when the upstream closes the connection
    };

    // Prepares for the body of the final response `head` (to a HEAD request when
    // `head_request`). False if Beast refuses the chunked framing, which the validator should
    // have refused first.
    bool frame(const http::Head& head, bool head_request);

    Kind kind() const { return kind_; }
    bool is_done() const { return kind_ == Kind::Chunked ? parser_->is_done() : done_; }
    // Whether the end is known without the upstream closing the connection.
    bool length_known() const { return kind_ != Kind::UntilClose; }
    ResponseParser& parser() { return *parser_; }  // Chunked only

    // Length and UntilClose: how many of `available` bytes belong to the body (all of them
    // until close; never past the Content-Length, so bytes after it are never relayed).
    std::size_t take(std::size_t available) const {
        if (kind_ == Kind::Length && remaining_ < available)
            return static_cast<std::size_t>(remaining_);
        return available;
    }
    // `n` body bytes (at most take(n)) were read.
    void advance(std::size_t n) {
        if (kind_ != Kind::Length) return;
        remaining_ -= n;
        done_ = remaining_ == 0;
    }
    // UntilClose: the upstream closed the connection, which ends the body.
    void closed() { done_ = true; }
    // Chunked, once done: the trailer fields the upstream sent after the last chunk (Beast adds
    // them to the framing head it was given; the framing fields themselves are left out).
    std::vector<std::pair<std::string, std::string>> trailers() const;

  private:
    Kind kind_ = Kind::None;
    std::uint64_t remaining_ = 0;
    bool done_ = true;
    std::optional<ResponseParser> parser_;
};

}  // namespace cloakroom::proxy
