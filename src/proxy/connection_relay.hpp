// The byte-moving parts of forwarding, shared by the intercepted pipeline (TLS upstream) and
// plain-HTTP forwarding to allowed hosts (TCP upstream): stream a request body upstream, read and
// validate a response head, stream a response body back (optionally through the redactor).
// Heads are ours (http/head.hpp). Response bodies with a Content-Length or read until close are
// counted by us and go from the read buffer (or straight from the stream into a pooled chunk) to
// the client; Beast's parser decodes chunked bodies and request bodies (body_framing.hpp).
// Bodies go out as they are or re-chunked by us (http/chunk_frame.hpp), one chunk per piece.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "http/chunk_frame.hpp"
#include "http/head.hpp"
#include "http/head_validator.hpp"
#include "proxy/body_framing.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/connection_head.hpp"
#include "proxy/head_redaction.hpp"
#include "proxy/io_now.hpp"
#include "proxy/response_filter.hpp"

namespace cloakroom::proxy {

struct RelayResult {
    boost::beast::error_code ec;
    std::uint64_t bytes = 0;
};

// One piece of a relayed body: a full TLS record's plaintext, so that each write is one record.
inline constexpr std::size_t kRelayChunk = 16384;
static_assert(kRelayChunk <= kPooledChunk);

namespace relay_detail {

// The buffers for one write: `head` (may be empty), then `piece`, framed as one chunk when
// `chunked` (with the last chunk when `last`). Valid until `frame` is used again.
inline std::array<boost::asio::const_buffer, 4> framed(std::string_view head,
                                                       std::string_view piece, bool chunked,
                                                       bool last, http::ChunkFrame& frame) {
    namespace net = boost::asio;
    std::string_view before;
    std::string_view after;
    if (chunked) {
        frame.frame(piece.size(), last);
        before = frame.before();
        after = frame.after();
    }
    return {net::buffer(head), net::buffer(before), net::buffer(piece), net::buffer(after)};
}

}  // namespace relay_detail

// Body of `parser` (framed by frame_request_body) from `from` to `to`, whose head has been
// written: as it arrives, re-chunked when `chunked`.
template <class From, class To>
boost::asio::awaitable<RelayResult> relay_request_body(From& from,
                                                       boost::beast::flat_buffer& from_buffer,
                                                       RequestParser& parser, To& to, bool chunked,
                                                       std::chrono::seconds idle) {
    namespace net = boost::asio;
    namespace bhttp = boost::beast::http;
    RelayResult result;
    ChunkLease lease;
    char* const chunk = lease.data();
    auto& body = parser.get().body();
    http::ChunkFrame frame;
    while (!parser.is_done()) {
        body.data = chunk;
        body.size = kRelayChunk;
        boost::beast::get_lowest_layer(from).expires_after(idle);
        if (!read_some_parsed_now(from, from_buffer, parser, result.ec)) {
            co_await bhttp::async_read_some(from, from_buffer, parser,
                                            net::redirect_error(net::use_awaitable, result.ec));
        }
        if (result.ec == bhttp::error::need_buffer) result.ec = {};
        if (result.ec) break;
        const std::string_view piece(chunk, kRelayChunk - body.size);
        const bool last = parser.is_done();
        result.bytes += piece.size();
        if (piece.empty() && !(chunked && last)) continue;
        boost::beast::get_lowest_layer(to).expires_after(idle);
        const auto buffers = relay_detail::framed({}, piece, chunked, last, frame);
        std::size_t written = 0;
        if (!write_all_now(to, buffers, written, result.ec)) {
            co_await net::async_write(to, suffix_after(buffers, written),
                                      net::redirect_error(net::use_awaitable, result.ec));
        }
        if (result.ec) break;
    }
    co_return result;
}

struct ResponseHead {
    bool ok = false;
    unsigned status = 0;  // on failure: 502 or 504
    std::string error;
    std::string reason;
    bool got_bytes = false;           // on failure: whether the upstream sent anything at all
    bool switched_protocols = false;  // 101: the connection is the upgraded protocol's now
};

// Reads response heads until a final (non-1xx) one into `head`, validating each strictly, and
// prepares `body` for its body.
template <class Upstream>
boost::asio::awaitable<ResponseHead> read_response_head(Upstream& upstream,
                                                        boost::beast::flat_buffer& buffer,
                                                        const cloakroom::http::HeadLimits& limits,
                                                        std::chrono::seconds timeout,
                                                        bool head_request, http::Head& head,
                                                        ResponseBody& body) {
    ResponseHead out;
    const auto fail = [&](std::string reason) {
        out.status = 502;
        out.error = "upstream_bad_response";
        out.reason = std::move(reason);
        return out;
    };
    for (;;) {
        boost::beast::get_lowest_layer(upstream).expires_after(timeout);
        HeadRead read = co_await read_head(upstream, buffer, limits, /*is_request=*/false);
        if (read.rejection || read.ec) {
            out.got_bytes = read.got_bytes;
            const bool timed_out = read.ec == boost::beast::error::timeout;
            out.status = timed_out ? 504 : 502;
            out.error = timed_out ? "upstream_timeout" : "upstream_bad_response";
            out.reason = read.rejection
                             ? "invalid response from upstream: " + read.rejection->reason
                             : "upstream closed or failed before responding: " + read.ec.message();
            co_return out;
        }
        const bool parsed = head.parse_response(buffer_view(buffer).substr(0, read.size));
        buffer.consume(read.size);
        if (!parsed) co_return fail("invalid response from upstream: unreadable head");
        const unsigned status = head.status();
        if (status == 101) {
            // The connection changes protocols: no body; the caller decides whether it asked.
            out.ok = true;
            out.switched_protocols = true;
            co_return out;
        }
        if (status >= 100 && status < 200) continue;  // interim: Cloakroom answered 100-continue
        if (!body.frame(head, head_request)) {
            co_return fail("invalid response from upstream: unreadable framing");
        }
        out.ok = true;
        co_return out;
    }
}

namespace relay_detail {

// The next piece of a chunked body: Beast's parser decodes into `chunk` (framing, limits and
// chunked decoding are Beast's). Returns false with `ec` set on failure, or when only waiting
// can help (`ec` clear): then call bhttp::async_read_some with the same parser.
template <class Upstream>
bool chunked_piece_now(Upstream& upstream, boost::beast::flat_buffer& buffer,
                       ResponseParser& parser, char* chunk, boost::beast::error_code& ec) {
    // Room for a whole TLS record (16 KiB) instead of the 8 KiB a head read leaves (Beast sizes
    // each read by the free capacity).
    if (buffer.capacity() < kRelayChunk) buffer.reserve(kRelayChunk);
    auto& body = parser.get().body();
    body.data = chunk;
    body.size = kRelayChunk;
    return read_some_parsed_now(upstream, buffer, parser, ec);
}

// After a chunked read: what is not an error here is cleared; the piece the parser decoded.
inline bool chunked_piece_taken(ResponseParser& parser, char* chunk, boost::beast::error_code& ec,
                                std::string_view& piece) {
    if (ec == boost::beast::http::error::need_buffer) ec = {};
    if (ec) return false;
    piece = std::string_view(chunk, kRelayChunk - parser.get().body().size);
    return true;
}

// After a read of a counted body (Length or UntilClose) that returned `n` bytes: a close ends
// an UntilClose body; before the Content-Length is complete it is Beast's partial_message.
inline bool counted_piece_taken(ResponseBody& body, std::size_t n, boost::beast::error_code& ec) {
    if (ec == boost::asio::error::eof) {
        if (body.kind() == ResponseBody::Kind::UntilClose) {
            ec = {};
            body.closed();
        } else {
            ec = boost::beast::http::error::partial_message;
        }
    }
    if (ec) return false;
    body.advance(n);
    return true;
}

}  // namespace relay_detail

// Reads one response body from the upstream piece by piece, redacted, for any front end: the
// HTTP/1 relay below writes each piece to the agent's stream, the HTTP/2 front end queues it on
// the agent's stream (proxy/h2/). A piece is valid until release(), which the caller invokes
// once the piece was written or copied: bytes that arrived with the head are relayed from where
// they are and only consumed then. The filter, if any, decodes and redacts each piece first
// (response_filter.hpp); its held-back tail is flushed with the last one.
template <class Upstream>
class ResponseBodyReader {
  public:
    ResponseBodyReader(Upstream& upstream, boost::beast::flat_buffer& buffer, ResponseBody& body,
                       ResponseFilter* filter, std::chrono::seconds idle)
        : upstream_(upstream),
          buffer_(buffer),
          body_(body),
          filter_(filter),
          redacted_(filter != nullptr ? kRelayChunk + 256 : 0),
          idle_(idle) {}

    bool done() const { return body_.is_done(); }
    std::uint64_t bytes() const { return bytes_; }

    // The next piece (possibly empty); `ec` set on failure (a close before a Content-Length
    // was complete is Beast's partial_message).
    boost::asio::awaitable<std::string_view> next(boost::beast::error_code& ec) {
        namespace net = boost::asio;
        namespace bhttp = boost::beast::http;
        using Kind = ResponseBody::Kind;
        std::string_view piece;
        char* writable = nullptr;  // where `piece` lies, for redaction in place
        boost::beast::get_lowest_layer(upstream_).expires_after(idle_);
        if (body_.kind() == Kind::Chunked) {
            if (!relay_detail::chunked_piece_now(upstream_, buffer_, body_.parser(), chunk_.data(),
                                                 ec) &&
                !ec) {
                co_await bhttp::async_read_some(upstream_, buffer_, body_.parser(),
                                                net::redirect_error(net::use_awaitable, ec));
            }
            if (!relay_detail::chunked_piece_taken(body_.parser(), chunk_.data(), ec, piece)) {
                co_return std::string_view{};
            }
            writable = chunk_.data();
        } else if (buffer_.size() > 0) {
            // Bytes that came with the head (or a read before): relayed from where they are.
            buffered_ = body_.take(buffer_.size());
            writable = static_cast<char*>(buffer_.data().data());
            piece = std::string_view(writable, buffered_);
            body_.advance(buffered_);
        } else {
            // Straight from the stream into the chunk, never past the Content-Length.
            const net::mutable_buffer space(chunk_.data(), body_.take(kRelayChunk));
            std::size_t n = 0;
            if (auto now = read_now(upstream_, space, ec)) {
                n = *now;
            } else {
                n = co_await upstream_.async_read_some(space,
                                                       net::redirect_error(net::use_awaitable, ec));
            }
            if (!relay_detail::counted_piece_taken(body_, n, ec)) co_return std::string_view{};
            writable = chunk_.data();
            piece = std::string_view(writable, n);
        }
        if (filter_ != nullptr) {
            // Plain bodies are redacted where they lie (the chunk or the read buffer, both
            // ours): no copy of the body.
            ec =
                filter_->filter({writable, piece.size()}, body_.is_done(), redacted_.text(), piece);
            if (ec) co_return std::string_view{};
        }
        bytes_ += piece.size();
        co_return piece;
    }

    // The piece returned last has been written: its buffered bytes may go.
    void release() { buffer_.consume(std::exchange(buffered_, 0)); }

  private:
    Upstream& upstream_;
    boost::beast::flat_buffer& buffer_;
    ResponseBody& body_;
    ResponseFilter* filter_;
    ChunkLease chunk_;
    StringLease redacted_;
    std::chrono::seconds idle_;
    std::size_t buffered_ = 0;  // bytes of buffer_ in the last piece
    std::uint64_t bytes_ = 0;
};

// The response body from `upstream` to `client`, after `head` (the serialized response head)
// unless `head` is empty because it was sent already. The first write carries the head with
// the first body bytes. `chunked`: the body goes out re-chunked (it came chunked); otherwise
// as it is (Content-Length, read until close, or no body). The filter, if any, decodes and
// redacts each piece before it goes out.
template <class Upstream, class Client>
boost::asio::awaitable<RelayResult> relay_response(Upstream& upstream,
                                                   boost::beast::flat_buffer& upstream_buffer,
                                                   ResponseBody& body, Client& client,
                                                   std::string_view head, bool chunked,
                                                   ResponseFilter* filter,
                                                   std::chrono::seconds idle) {
    namespace net = boost::asio;
    RelayResult result;
    ResponseBodyReader<Upstream> reader(upstream, upstream_buffer, body, filter, idle);
    http::ChunkFrame frame;
    for (;;) {
        std::string_view piece;
        if (!reader.done()) {
            piece = co_await reader.next(result.ec);
            if (result.ec) break;
        }
        const bool done = reader.done();
        if (!head.empty() || !piece.empty() || (chunked && done)) {
            boost::beast::get_lowest_layer(client).expires_after(idle);
            const auto buffers = relay_detail::framed(head, piece, chunked, done, frame);
            std::size_t written = 0;
            if (!write_all_now(client, buffers, written, result.ec)) {
                co_await net::async_write(client, suffix_after(buffers, written),
                                          net::redirect_error(net::use_awaitable, result.ec));
            }
            head = {};
        }
        reader.release();
        if (result.ec || done) break;
    }
    result.bytes = reader.bytes();
    co_return result;
}

}  // namespace cloakroom::proxy
