// What a redacted response body goes through on its way to the agent, for every front end
// (docs/redaction.md): the content codings undone (http/content_decoder.hpp), then the streaming
// redactor (secrets/redactor.hpp). Pure: bytes in, bytes out; the relays call feed() per piece.
//
// A compressed body is passed on decoded: Content-Encoding and Content-Length go, the body is
// re-chunked (HTTP/1.1) or sent as DATA frames without a content-length (HTTP/2), and a strong
// ETag becomes weak (the bytes differ from the upstream's representation). Re-encoding would
// cost CPU for a loopback hop where size does not matter.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/content_decoder.hpp"
#include "http/head.hpp"
#include "proxy/head_redaction.hpp"
#include "runtime/refusal.hpp"

namespace cloakroom::proxy {

// Why a response body could not be decoded; the relays fail the exchange with its message,
// which names the problem and never quotes the body.
enum class BodyDecodeError {
    corrupt = 1,      // not valid data for the content coding the upstream named
    bomb,             // decoded size past the expansion cap (a decompression bomb)
    grpc_compressed,  // a compressed gRPC message (its bytes cannot be redacted)
};
const boost::system::error_category& body_decode_category();
boost::system::error_code make_error_code(BodyDecodeError error);

class ResponseFilter {
  public:
    ResponseFilter(std::optional<Redactor> redactor, std::optional<http::BodyDecoder> decoder)
        : redactor_(std::move(redactor)), decoder_(std::move(decoder)) {}
    // The decoded scratch is plain text that held the secret before redaction: wiped. (The
    // decompressors' own windows are freed by their libraries without a wipe.)
    ~ResponseFilter();
    ResponseFilter(ResponseFilter&&) noexcept = default;
    ResponseFilter& operator=(ResponseFilter&&) noexcept = default;

    // Whether the body is decoded (its framing was rewritten by prepare_response_filter).
    bool decodes() const { return decoder_.has_value(); }

    // The body is a gRPC message stream (5-byte length prefixes): the redactor is flushed at
    // every message's end instead of holding back a needle prefix until the next message, which
    // in a bidirectional call may only come after the agent has answered this one. A secret
    // echoed inside one message is still redacted whole; one split across two messages is not
    // (a serialized protobuf field never is). Compressed messages are refused: the request asks
    // for identity (request_plan.cpp).
    void grpc_messages() { grpc_.emplace(); }

    // Appends the filtered form of `piece` (the next bytes of the body as received) to `out`;
    // `last`: the body ends with it (held-back bytes flushed, the decoder's end checked).
    boost::system::error_code feed(std::string_view piece, bool last, std::string& out);

    // feed() for a relay that owns the piece's bytes: a plain body (redaction only: not
    // decoded, not gRPC framed) is redacted where it lies, without a copy (the few bytes held
    // back from the piece before, a needle's possible start, are joined to it in `scratch`);
    // anything else is filtered into `scratch`. `out`: the filtered piece, in `piece` or
    // `scratch`.
    boost::system::error_code filter(std::span<char> piece, bool last, std::string& scratch,
                                     std::string_view& out);

  private:
    struct GrpcCursor {
        unsigned char header[5] = {};
        std::size_t header_have = 0;
        std::uint64_t payload_left = 0;
    };
    boost::system::error_code feed_grpc(std::string_view plain, std::string& out);

    std::optional<Redactor> redactor_;
    std::optional<http::BodyDecoder> decoder_;
    std::string decoded_;
    std::optional<GrpcCursor> grpc_;
};

// Sets up `filter` for the body of `response` (already redacted head), given whether the
// service's secrets must be redacted (`needles` non-empty). Returns the refusal when the body
// cannot be redacted: a content coding Cloakroom cannot decode (it asked for only the ones it
// can; an upstream that ignores that is not relayed), or a 206 of a compressed representation
// (a byte range of a compressed stream cannot be decoded on its own). Rewrites the head's
// framing when the body will be decoded.
std::optional<runtime::Refusal> prepare_response_filter(const CompiledNeedles& needles,
                                                        http::Head& response,
                                                        std::optional<ResponseFilter>& filter);

}  // namespace cloakroom::proxy

template <>
struct boost::system::is_error_code_enum<cloakroom::proxy::BodyDecodeError> : std::true_type {};
