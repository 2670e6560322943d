// Beast's parser reads bodies from the framing Head gives it (body_framing.hpp): the body must
// come out exactly as the real head frames it, whatever else that head says.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <string>

#include "http/head.hpp"
#include "proxy/body_framing.hpp"

namespace cloakroom::proxy {
namespace {

namespace bhttp = boost::beast::http;

// Feeds `bytes` (what follows the head) to the parser, returns the body it decoded.
template <bool IsRequest>
std::string decode(bhttp::parser<IsRequest, bhttp::buffer_body>& parser, std::string bytes,
                   bool& done) {
    std::string body;
    char chunk[64];
    std::string_view rest = bytes;
    while (!parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof(chunk);
        boost::beast::error_code ec;
        const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
        rest.remove_prefix(used);
        body.append(chunk, sizeof(chunk) - parser.get().body().size);
        if (ec == bhttp::error::need_buffer) continue;  // the chunk was full
        if (ec == bhttp::error::need_more) break;       // all input used
        EXPECT_FALSE(ec) << ec.message();
        if (ec || used == 0) break;
    }
    done = parser.is_done();
    return body;
}

http::Head request(const std::string& text) {
    http::Head head;
    EXPECT_TRUE(head.parse_request(text));
    return head;
}

http::Head response(const std::string& text) {
    http::Head head;
    EXPECT_TRUE(head.parse_response(text));
    return head;
}

// The body of a request with this head, decoded from `bytes` (what follows the head).
std::string request_body(const std::string& head_text, const std::string& bytes) {
    const auto head = request(head_text);
    EXPECT_TRUE(request_has_body(head));
    RequestParser parser;
    EXPECT_TRUE(frame_request_body(head, parser));
    bool done = false;
    std::string body = decode(parser, bytes, done);
    EXPECT_TRUE(done);
    return body;
}

TEST(ProxyBodyFraming, RequestWithContentLength) {
    EXPECT_EQ(request_body("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", "helloNEXT"),
              "hello");
}

TEST(ProxyBodyFraming, ChunkedRequestIsDecoded) {
    EXPECT_EQ(request_body("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                           "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"),
              "abcde");
}

TEST(ProxyBodyFraming, ZeroPaddedContentLengthStillFramesTheBody) {
    // The validator accepts any number of leading zeros. Reading such a length as absent would
    // leave the body in the buffer to be parsed as the next request (smuggling).
    const std::string zeros(40, '0');
    const auto head =
        request("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: " + zeros + "5\r\n\r\n");
    EXPECT_TRUE(request_has_body(head));
    EXPECT_EQ(request_body("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: " + zeros + "5\r\n\r\n",
                           "helloGET / HTTP/1.1"),
              "hello");
    ResponseBody body;
    ASSERT_TRUE(
        body.frame(response("HTTP/1.1 200 OK\r\nContent-Length: " + zeros + "3\r\n\r\n"), false));
    EXPECT_EQ(body.kind(), ResponseBody::Kind::Length);
    EXPECT_EQ(body.take(10), 3u);
}

TEST(ProxyBodyFraming, RequestsWithoutFramingHaveNoBody) {
    EXPECT_FALSE(request_has_body(request("GET / HTTP/1.1\r\nHost: a\r\n\r\n")));
    EXPECT_FALSE(
        request_has_body(request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")));
}

TEST(ProxyBodyFraming, ResponseUntilCloseWithoutLength) {
    const auto head = response("HTTP/1.1 200 OK\r\nX: y\r\n\r\n");
    ResponseParser parser;
    ASSERT_TRUE(frame_response_body(head, parser, false));
    bool done = false;
    EXPECT_EQ(decode(parser, "all of it", done), "all of it");
    EXPECT_FALSE(done);  // only the upstream closing ends it
    boost::beast::error_code ec;
    parser.put_eof(ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(parser.is_done());
}

TEST(ProxyBodyFraming, ResponsesWithoutABody) {
    for (const char* text : {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n",
                             "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"}) {
        ResponseParser parser;
        ASSERT_TRUE(frame_response_body(response(text), parser, false)) << text;
        EXPECT_TRUE(parser.is_done()) << text;
    }
    // HEAD: the fields describe the body a GET would get; there is none.
    for (const char* text : {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"}) {
        ResponseParser parser;
        ASSERT_TRUE(frame_response_body(response(text), parser, true)) << text;
        EXPECT_TRUE(parser.is_done()) << text;
    }
}

TEST(ProxyBodyFraming, ChunkedResponseIsDecoded) {
    ResponseParser parser;
    ASSERT_TRUE(frame_response_body(
        response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), parser, false));
    bool done = false;
    EXPECT_EQ(decode(parser, "a\r\n0123456789\r\n0\r\n\r\n", done), "0123456789");
    EXPECT_TRUE(done);
}

TEST(ProxyBodyFraming, LargeContentLength) {
    ResponseParser parser;
    ASSERT_TRUE(frame_response_body(
        response("HTTP/1.1 200 OK\r\nContent-Length: 9007199254740992\r\n\r\n"), parser, false));
    ASSERT_TRUE(parser.content_length().has_value());
    EXPECT_EQ(*parser.content_length(), 9007199254740992u);
}

TEST(ProxyResponseBody, KindsFollowTheHeadAndTheRequest) {
    ResponseBody body;
    ASSERT_TRUE(body.frame(response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), false));
    EXPECT_EQ(body.kind(), ResponseBody::Kind::Length);
    EXPECT_FALSE(body.is_done());
    EXPECT_TRUE(body.length_known());
    ASSERT_TRUE(body.frame(response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true));
    EXPECT_EQ(body.kind(), ResponseBody::Kind::None);  // HEAD
    EXPECT_TRUE(body.is_done());
    for (const char* text : {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
                             "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}) {
        ASSERT_TRUE(body.frame(response(text), false)) << text;
        EXPECT_EQ(body.kind(), ResponseBody::Kind::None) << text;
        EXPECT_TRUE(body.is_done()) << text;
        EXPECT_TRUE(body.length_known()) << text;
    }
    ASSERT_TRUE(
        body.frame(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), false));
    EXPECT_EQ(body.kind(), ResponseBody::Kind::Chunked);
    bool done = false;
    EXPECT_EQ(decode(body.parser(), "3\r\nabc\r\n0\r\n\r\n", done), "abc");
    EXPECT_TRUE(body.is_done());
    ASSERT_TRUE(body.frame(response("HTTP/1.1 200 OK\r\nX: y\r\n\r\n"), false));
    EXPECT_EQ(body.kind(), ResponseBody::Kind::UntilClose);
    EXPECT_FALSE(body.length_known());
    EXPECT_EQ(body.take(1000), 1000u);
    body.advance(1000);
    EXPECT_FALSE(body.is_done());
    body.closed();
    EXPECT_TRUE(body.is_done());
}

TEST(ProxyResponseBody, LengthIsCountedAndNeverOverrun) {
    ResponseBody body;
    ASSERT_TRUE(body.frame(response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), false));
    EXPECT_EQ(body.take(4), 4u);
    body.advance(4);
    EXPECT_FALSE(body.is_done());
    EXPECT_EQ(body.take(100), 6u);  // bytes past the body are not the body's
    body.advance(6);
    EXPECT_TRUE(body.is_done());
    EXPECT_EQ(body.take(100), 0u);
}

}  // namespace
}  // namespace cloakroom::proxy
