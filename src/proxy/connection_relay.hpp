// The byte-moving parts of forwarding, shared by the intercepted pipeline (TLS upstream) and
// plain-HTTP forwarding to allowed hosts (TCP upstream): stream a request body upstream, read and
// validate a response head, stream a response body back (optionally through the redactor).
// Heads are ours (http/head.hpp); Beast's parser decodes bodies (body_framing.hpp), and bodies
// go out as they are or re-chunked by us (http/chunk_frame.hpp), one chunk per piece.
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

#include "http/chunk_frame.hpp"
#include "http/head.hpp"
#include "http/head_validator.hpp"
#include "proxy/body_framing.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/connection_head.hpp"
#include "proxy/io_now.hpp"
#include "proxy/redactor.hpp"

namespace cloakroom::proxy {

struct RelayResult {
    boost::beast::error_code ec;
    std::uint64_t bytes = 0;
};

inline constexpr std::size_t kRelayChunk = kPooledChunk;

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
    bool got_bytes = false;  // on failure: whether the upstream sent anything at all
};

// Reads response heads until a final (non-1xx) one into `head`, validating each strictly, and
// prepares `parser` (empty on entry) for its body.
template <class Upstream>
boost::asio::awaitable<ResponseHead> read_response_head(Upstream& upstream,
                                                        boost::beast::flat_buffer& buffer,
                                                        const cloakroom::http::HeadLimits& limits,
                                                        std::chrono::seconds timeout,
                                                        bool head_request, http::Head& head,
                                                        std::optional<ResponseParser>& parser) {
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
        if (status == 101) co_return fail("protocol upgrades are not supported");
        if (status >= 100 && status < 200) continue;  // interim: Cloakroom answered 100-continue
        if (!frame_response_body(head, parser.emplace(), head_request)) {
            parser.reset();
            co_return fail("invalid response from upstream: unreadable framing");
        }
        out.ok = true;
        co_return out;
    }
}

// Whether the response has a body at all (RFC 9112 §6.3).
inline bool response_has_body(const http::Head& head, bool head_request) {
    const unsigned status = head.status();
    return !head_request && status != 204 && status != 304;
}

// Whether the response's end is known without the upstream closing the connection.
inline bool response_length_known(const http::Head& head, const ResponseParser& parser,
                                  bool head_request) {
    return head.content_length().has_value() || head.chunked() || parser.is_done() ||
           !response_has_body(head, head_request);
}

// The reading half of the response relay: Beast's parser fills a pooled chunk with the next
// piece of body (framing, limits, chunked decoding are Beast's), then the redactor, if any,
// rewrites it. A piece stays valid until the next prepare().
class ResponseBodySource {
  public:
    ResponseBodySource(ResponseParser& parser, Redactor* redactor, bool length_known)
        : parser_(parser),
          redactor_(redactor),
          length_known_(length_known),
          redacted_(redactor != nullptr ? kRelayChunk + 256 : 0) {}

    // Before each parser read: the chunk to fill, and room for a whole TLS record (16 KiB)
    // instead of the 8 KiB a head read leaves (Beast sizes each read by the free capacity).
    // Not a coroutine of its own: one frame less per read on the hot path.
    void prepare(boost::beast::flat_buffer& upstream_buffer) {
        if (upstream_buffer.capacity() < kRelayChunk) upstream_buffer.reserve(kRelayChunk);
        auto& body = parser_.get().body();
        body.data = chunk_.data();
        body.size = kRelayChunk;
    }

    // After the read: clears what is not an error here, then the piece read (redacted).
    // Returns false on a real error (left in `ec`).
    bool take(boost::beast::error_code& ec, std::string_view& piece) {
        namespace bhttp = boost::beast::http;
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec == bhttp::error::end_of_stream && !length_known_) ec = {};
        if (ec) return false;
        piece = std::string_view(chunk_.data(), kRelayChunk - parser_.get().body().size);
        if (redactor_ != nullptr) {
            std::string& out = redacted_.text();
            out.clear();
            redactor_->feed(piece, out);
            if (parser_.is_done()) redactor_->finish(out);
            piece = out;
        }
        return true;
    }

  private:
    ResponseParser& parser_;
    Redactor* redactor_;
    bool length_known_;
    ChunkLease chunk_;
    StringLease redacted_;
};

// The response body from `upstream` to `client`, after `head` (the serialized response head)
// unless `head` is empty because it was sent already. The first write carries the head with
// the first body bytes. `chunked`: the body goes out re-chunked (it came chunked); otherwise
// as it is (Content-Length, read until close, or no body).
template <class Upstream, class Client>
boost::asio::awaitable<RelayResult> relay_response(Upstream& upstream,
                                                   boost::beast::flat_buffer& upstream_buffer,
                                                   ResponseParser& parser, Client& client,
                                                   std::string_view head, bool chunked,
                                                   Redactor* redactor, bool length_known,
                                                   std::chrono::seconds idle) {
    namespace net = boost::asio;
    namespace bhttp = boost::beast::http;
    RelayResult result;
    ResponseBodySource source(parser, redactor, length_known);
    http::ChunkFrame frame;
    for (;;) {
        std::string_view out;
        if (!parser.is_done()) {
            source.prepare(upstream_buffer);
            boost::beast::get_lowest_layer(upstream).expires_after(idle);
            if (!read_some_parsed_now(upstream, upstream_buffer, parser, result.ec)) {
                co_await bhttp::async_read_some(upstream, upstream_buffer, parser,
                                                net::redirect_error(net::use_awaitable, result.ec));
            }
            if (!source.take(result.ec, out)) break;
            result.bytes += out.size();
        }
        const bool done = parser.is_done();
        if (!head.empty() || !out.empty() || (chunked && done)) {
            boost::beast::get_lowest_layer(client).expires_after(idle);
            const auto buffers = relay_detail::framed(head, out, chunked, done, frame);
            std::size_t written = 0;
            if (!write_all_now(client, buffers, written, result.ec)) {
                co_await net::async_write(client, suffix_after(buffers, written),
                                          net::redirect_error(net::use_awaitable, result.ec));
            }
            head = {};
            if (result.ec) break;
        }
        if (done) break;
    }
    co_return result;
}

}  // namespace cloakroom::proxy
