// The byte-moving parts of forwarding, shared by the intercepted pipeline (TLS upstream) and
// plain-HTTP forwarding to allowed hosts (TCP upstream): stream a request body upstream, read and
// validate a response head, stream a response body back (optionally through the redactor).
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/head_validator.hpp"
#include "proxy/buffer_pool.hpp"
#include "proxy/connection_head.hpp"
#include "proxy/io_now.hpp"
#include "proxy/redactor.hpp"

namespace cloakroom::proxy {

using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

struct RelayResult {
    boost::beast::error_code ec;
    std::uint64_t bytes = 0;
};

inline constexpr std::size_t kRelayChunk = kPooledChunk;

// Body of `parser` (already past its head) from `from` to `to` through `writer`, whose header
// has been written.
template <class From, class To>
boost::asio::awaitable<RelayResult> relay_request_body(
    From& from, boost::beast::flat_buffer& from_buffer,
    boost::beast::http::request_parser<boost::beast::http::buffer_body>& parser, To& to,
    boost::beast::http::request_serializer<boost::beast::http::buffer_body>& writer,
    std::chrono::seconds idle) {
    namespace net = boost::asio;
    namespace bhttp = boost::beast::http;
    RelayResult result;
    ChunkLease lease;
    char* const chunk = lease.data();
    auto& body = parser.get().body();
    while (!writer.is_done()) {
        if (!parser.is_done()) {
            body.data = chunk;
            body.size = kRelayChunk;
            boost::beast::get_lowest_layer(from).expires_after(idle);
            if (!read_some_parsed_now(from, from_buffer, parser, result.ec)) {
                co_await bhttp::async_read_some(from, from_buffer, parser,
                                                net::redirect_error(net::use_awaitable, result.ec));
            }
            if (result.ec == bhttp::error::need_buffer) result.ec = {};
            if (result.ec) break;
            body.size = kRelayChunk - body.size;
            // A null pointer, not an empty buffer: Beast writes an empty buffer as a zero-length
            // chunk, which is the end-of-body marker.
            body.data = body.size > 0 ? chunk : nullptr;
            body.more = !parser.is_done();
            result.bytes += body.size;
        } else {
            body.data = nullptr;
            body.size = 0;
            body.more = false;
        }
        boost::beast::get_lowest_layer(to).expires_after(idle);
        co_await bhttp::async_write(to, writer, net::redirect_error(net::use_awaitable, result.ec));
        if (result.ec == bhttp::error::need_buffer) result.ec = {};
        if (result.ec) break;
    }
    co_return result;
}

struct ResponseHead {
    std::unique_ptr<ResponseParser> parser;  // set on success (Beast parsers cannot move)
    unsigned status = 0;                     // on failure: 502 or 504
    std::string error;
    std::string reason;
    bool got_bytes = false;  // on failure: whether the upstream sent anything at all
};

// Reads response heads until a final (non-1xx) one; validates each strictly before Beast.
template <class Upstream>
boost::asio::awaitable<ResponseHead> read_response_head(Upstream& upstream,
                                                        boost::beast::flat_buffer& buffer,
                                                        const cloakroom::http::HeadLimits& limits,
                                                        std::chrono::seconds timeout,
                                                        bool head_request) {
    namespace net = boost::asio;
    namespace bhttp = boost::beast::http;
    ResponseHead out;
    for (;;) {
        boost::beast::get_lowest_layer(upstream).expires_after(timeout);
        HeadRead head = co_await read_head(upstream, buffer, limits, /*is_request=*/false);
        if (head.rejection || head.ec) {
            out.got_bytes = head.got_bytes;
            const bool timed_out = head.ec == boost::beast::error::timeout;
            out.status = timed_out ? 504 : 502;
            out.error = timed_out ? "upstream_timeout" : "upstream_bad_response";
            out.reason = head.rejection
                             ? "invalid response from upstream: " + head.rejection->reason
                             : "upstream closed or failed before responding: " + head.ec.message();
            co_return out;
        }
        out.parser = std::make_unique<ResponseParser>();
        // Not boost::none: Beast 1.74 then refuses every Content-Length.
        out.parser->body_limit(std::numeric_limits<std::uint64_t>::max());
        out.parser->header_limit(static_cast<std::uint32_t>(limits.max_head_bytes + 1));
        if (head_request) out.parser->skip(true);
        boost::beast::error_code ec;
        out.parser->put(net::buffer(buffer.data().data(), head.size), ec);
        buffer.consume(head.size);
        if (ec == bhttp::error::need_more) ec = {};
        if (ec) {
            out.parser.reset();
            out.status = 502;
            out.error = "upstream_bad_response";
            out.reason = "invalid response from upstream: " + ec.message();
            co_return out;
        }
        const unsigned status = out.parser->get().result_int();
        if (status == 101) {
            out.parser.reset();
            out.status = 502;
            out.error = "upstream_bad_response";
            out.reason = "protocol upgrades are not supported";
            co_return out;
        }
        if (status >= 100 && status < 200) continue;  // interim: Cloakroom answered 100-continue
        co_return out;
    }
}

// Whether the response's end is known without the upstream closing the connection.
inline bool response_length_known(ResponseParser& parser, bool head_request) {
    const auto& response = parser.get();
    const unsigned status = response.result_int();
    return response.has_content_length() || response.chunked() || parser.is_done() ||
           head_request || status == 204 || status == 304;
}

// The reading half shared by both response relays: Beast's parser fills a pooled chunk with the
// next piece of body (framing, limits, chunked decoding are Beast's), then the redactor, if any,
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

template <class Upstream, class Client>
boost::asio::awaitable<RelayResult> relay_response_body(
    Upstream& upstream, boost::beast::flat_buffer& upstream_buffer, ResponseParser& parser,
    Client& client,
    boost::beast::http::response_serializer<boost::beast::http::buffer_body>& writer,
    Redactor* redactor, bool length_known, std::chrono::seconds idle) {
    namespace net = boost::asio;
    namespace bhttp = boost::beast::http;
    RelayResult result;
    ResponseBodySource source(parser, redactor, length_known);
    auto& body = parser.get().body();
    // If the caller has not written the head yet, the first write sends it together with the
    // first body bytes (one TLS record, one send).
    while (!writer.is_done()) {
        if (!parser.is_done()) {
            std::string_view piece;
            source.prepare(upstream_buffer);
            boost::beast::get_lowest_layer(upstream).expires_after(idle);
            if (!read_some_parsed_now(upstream, upstream_buffer, parser, result.ec)) {
                co_await bhttp::async_read_some(upstream, upstream_buffer, parser,
                                                net::redirect_error(net::use_awaitable, result.ec));
            }
            if (!source.take(result.ec, piece)) break;
            // A null pointer, not an empty buffer: Beast writes an empty buffer as a zero-length
            // chunk, which is the end-of-body marker.
            body.data = piece.empty() ? nullptr : const_cast<char*>(piece.data());
            body.size = piece.size();
            body.more = !parser.is_done();
            result.bytes += piece.size();
        } else {
            body.data = nullptr;
            body.size = 0;
            body.more = false;
        }
        boost::beast::get_lowest_layer(client).expires_after(idle);
        co_await bhttp::async_write(client, writer,
                                    net::redirect_error(net::use_awaitable, result.ec));
        if (result.ec == bhttp::error::need_buffer) result.ec = {};
        if (result.ec) break;
    }
    co_return result;
}

// relay_response_body for a response that is not chunked (Content-Length, read until close, or
// no body): the body bytes go out as they are, after `head` (serialize_response_head) unless
// `head` is empty because it was sent already. The first write carries the head with the first
// body bytes.
template <class Upstream, class Client>
boost::asio::awaitable<RelayResult> relay_response_raw(Upstream& upstream,
                                                       boost::beast::flat_buffer& upstream_buffer,
                                                       ResponseParser& parser, Client& client,
                                                       std::string head, Redactor* redactor,
                                                       bool length_known,
                                                       std::chrono::seconds idle) {
    namespace net = boost::asio;
    namespace bhttp = boost::beast::http;
    RelayResult result;
    ResponseBodySource source(parser, redactor, length_known);
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
        if (!head.empty() || !out.empty()) {
            boost::beast::get_lowest_layer(client).expires_after(idle);
            const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(out)};
            std::size_t written = 0;
            if (!write_all_now(client, buffers, written, result.ec)) {
                co_await net::async_write(client, suffix_after(buffers, written),
                                          net::redirect_error(net::use_awaitable, result.ec));
            }
            head.clear();
            if (result.ec) break;
        }
        if (parser.is_done()) break;
    }
    co_return result;
}

}  // namespace cloakroom::proxy
