// The HTTP/2 codec (proxy/h2/codec.hpp): a stream's header block becomes the HTTP/1.1 head the
// one pipeline reads, validated like any head; a response head becomes an HTTP/2 header list.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "http/head.hpp"
#include "http/websocket.hpp"
#include "proxy/h2/codec.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy::h2 {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::variant<std::string, runtime::Refusal> convert(const Fields& fields, bool has_body = false,
                                                    const http::HeadLimits& limits = {}) {
    static http::HeadLimits kept;
    kept = limits;
    RequestFields request(kept);
    for (const auto& [name, value] : fields) request.add(name, value);
    return request.to_http1(has_body, request.websocket() ? kKey : std::string_view());
}

const Fields kGet = {{":method", "GET"},
                     {":scheme", "https"},
                     {":authority", "api.example.com"},
                     {":path", "/v1/x?a=1"}};

Fields with(Fields base, const Fields& more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
}

TEST(H2Codec, AuthorityBecomesHostAndFieldsFollow) {
    auto text = convert(with(kGet, {{"authorization", "Bearer t"}, {"accept", "*/*"}}));
    ASSERT_TRUE(std::holds_alternative<std::string>(text));
    EXPECT_EQ(std::get<std::string>(text),
              "GET /v1/x?a=1 HTTP/1.1\r\nHost: api.example.com\r\nauthorization: Bearer t\r\n"
              "accept: */*\r\n\r\n");
    http::Head head;
    ASSERT_TRUE(head.parse_request(std::get<std::string>(text)));
    EXPECT_EQ(head["Host"], "api.example.com");
    EXPECT_EQ(head["Authorization"], "Bearer t");
}

TEST(H2Codec, BodyFramingFollowsContentLengthElseChunked) {
    auto chunked = convert(kGet, /*has_body=*/true);
    ASSERT_TRUE(std::holds_alternative<std::string>(chunked));
    http::Head head;
    ASSERT_TRUE(head.parse_request(std::get<std::string>(chunked)));
    EXPECT_TRUE(head.chunked());

    auto counted = convert(with(kGet, {{"content-length", "12"}}), true);
    ASSERT_TRUE(std::holds_alternative<std::string>(counted));
    ASSERT_TRUE(head.parse_request(std::get<std::string>(counted)));
    EXPECT_FALSE(head.chunked());
    EXPECT_EQ(head.content_length(), 12u);

    auto none = convert(kGet, false);
    ASSERT_TRUE(head.parse_request(std::get<std::string>(none)));
    EXPECT_FALSE(head.chunked());
    EXPECT_FALSE(head.content_length());
}

TEST(H2Codec, CookieCrumbsAreJoined) {
    auto text = convert(with(kGet, {{"cookie", "a=1"}, {"x", "y"}, {"cookie", "b=2"}}));
    ASSERT_TRUE(std::holds_alternative<std::string>(text));
    http::Head head;
    ASSERT_TRUE(head.parse_request(std::get<std::string>(text)));
    EXPECT_EQ(head["Cookie"], "a=1; b=2");
    std::size_t cookies = 0;
    for (const auto& field : head.fields()) cookies += field.name == "cookie" ? 1 : 0;
    EXPECT_EQ(cookies, 1u);
}

// Every way a block is refused, with the status the agent gets on that stream.
TEST(H2Codec, RefusalsDecisionTable) {
    struct Case {
        const char* what;
        Fields fields;
        unsigned status;
    };
    const std::vector<Case> cases = {
        {"Host names another host than :authority", with(kGet, {{"host", "evil.example.com"}}),
         400},
        {"CONNECT", {{":method", "CONNECT"}, {":authority", "api.example.com:443"}}, 501},
        {"extended CONNECT of another protocol than websocket",
         {{":method", "CONNECT"},
          {":protocol", "connect-udp"},
          {":scheme", "https"},
          {":authority", "api.example.com"},
          {":path", "/"}},
         501},
        {"extended CONNECT for a WebSocket with a content-length",
         {{":method", "CONNECT"},
          {":protocol", "websocket"},
          {":scheme", "https"},
          {":authority", "api.example.com"},
          {":path", "/"},
          {"content-length", "5"}},
         400},
        {"extended CONNECT for a WebSocket with a path the validator refuses",
         {{":method", "CONNECT"},
          {":protocol", "websocket"},
          {":scheme", "https"},
          {":authority", "api.example.com"},
          {":path", "/a b"}},
         400},
        {"a value the HTTP/1.1 validator refuses (DEL)", with(kGet, {{"x-bad", "a\x7f"}}), 400},
        {"a space in the path", with(kGet, {{":path", "/a b"}}), 400},
        {"no path", {{":method", "GET"}, {":authority", "api.example.com"}}, 400},
    };
    for (const Case& test : cases) {
        auto out = convert(test.fields);
        ASSERT_TRUE(std::holds_alternative<runtime::Refusal>(out)) << test.what;
        EXPECT_EQ(std::get<runtime::Refusal>(out).status, test.status) << test.what;
    }
}

// RFC 8441: an extended CONNECT for a WebSocket becomes the HTTP/1.1 opening handshake it stands
// for, with the gateway's key (any key the agent sent is dropped) and no body framing, so the
// plan sees an upgrade like an HTTP/1.1 agent's (http::is_websocket_upgrade).
TEST(H2Codec, ExtendedConnectForAWebSocketBecomesTheUpgradeHandshake) {
    const Fields connect = {{":method", "CONNECT"},
                            {":protocol", "websocket"},
                            {":scheme", "https"},
                            {":authority", "api.example.com"},
                            {":path", "/chat?room=1"},
                            {"sec-websocket-version", "13"},
                            {"sec-websocket-key", "agent-chosen"},
                            {"sec-websocket-protocol", "chat"},
                            {"authorization", "Bearer t"}};
    for (bool has_body : {true, false}) {
        auto text = convert(connect, has_body);
        ASSERT_TRUE(std::holds_alternative<std::string>(text));
        http::Head head;
        ASSERT_TRUE(head.parse_request(std::get<std::string>(text)));
        EXPECT_EQ(head.method(), "GET");
        EXPECT_EQ(head.target(), "/chat?room=1");
        EXPECT_EQ(head["Host"], "api.example.com");
        EXPECT_EQ(head["Upgrade"], "websocket");
        EXPECT_EQ(head["Connection"], "Upgrade");
        EXPECT_EQ(head["Sec-WebSocket-Key"], kKey);
        EXPECT_EQ(head["Sec-WebSocket-Protocol"], "chat");
        EXPECT_EQ(head["Authorization"], "Bearer t");
        EXPECT_FALSE(head.chunked());
        EXPECT_FALSE(head.content_length());
        std::size_t keys = 0;
        for (const auto& field : head.fields()) {
            keys += ascii_iequals(field.name, "Sec-WebSocket-Key") ? 1 : 0;
        }
        EXPECT_EQ(keys, 1u);
        EXPECT_TRUE(http::is_websocket_upgrade(head));
    }
    // The protocol's name is a token: any case.
    Fields upper = connect;
    upper[1].second = "WebSocket";
    EXPECT_TRUE(std::holds_alternative<std::string>(convert(upper)));
    // Without a key from the front end there is no handshake to make.
    http::HeadLimits limits;
    RequestFields request(limits);
    for (const auto& [name, value] : connect) request.add(name, value);
    EXPECT_TRUE(request.websocket());
    EXPECT_TRUE(std::holds_alternative<runtime::Refusal>(request.to_http1(true)));
}

TEST(H2Codec, HostFieldAloneOrEqualIsAccepted) {
    for (const Fields& fields :
         {Fields{{":method", "GET"}, {":path", "/"}, {"host", "api.example.com"}},
          with(kGet, {{"host", "api.example.com"}})}) {
        auto text = convert(fields);
        ASSERT_TRUE(std::holds_alternative<std::string>(text));
        http::Head head;
        ASSERT_TRUE(head.parse_request(std::get<std::string>(text)));
        EXPECT_EQ(head["Host"], "api.example.com");
        std::size_t hosts = 0;
        for (const auto& field : head.fields()) hosts += field.name == "Host" ? 1 : 0;
        EXPECT_EQ(hosts, 1u);
    }
}

// Past the limits nothing more is kept and the stream is answered 431: an HPACK bomb of many
// small fields, or a few large ones.
TEST(H2Codec, HeaderListOverTheLimitsIs431) {
    http::HeadLimits limits;
    limits.max_fields = 10;
    limits.max_head_bytes = 1024;
    Fields many = kGet;
    for (int i = 0; i < 20; ++i) many.emplace_back("x-f" + std::to_string(i), "v");
    auto out = convert(many, false, limits);
    ASSERT_TRUE(std::holds_alternative<runtime::Refusal>(out));
    EXPECT_EQ(std::get<runtime::Refusal>(out).status, 431u);

    auto large = convert(with(kGet, {{"x-big", std::string(2000, 'a')}}), false, limits);
    ASSERT_TRUE(std::holds_alternative<runtime::Refusal>(large));
    EXPECT_EQ(std::get<runtime::Refusal>(large).status, 431u);

    auto fits = convert(with(kGet, {{"x-small", std::string(100, 'a')}}), false, limits);
    EXPECT_TRUE(std::holds_alternative<std::string>(fits));
}

std::vector<std::pair<std::string, std::string>> entries(const HeaderList& list) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const nghttp2_nv& nv : list.entries()) {
        out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                         std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    return out;
}

TEST(H2Codec, ResponseHeadBecomesLowercaseListWithoutConnectionFields) {
    http::Head head;
    ASSERT_TRUE(head.parse_response(
        "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\nKeep-Alive: timeout=5\r\nX-Mixed-Case: V\r\nSet-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\n\r\n"));
    HeaderList list;
    list.response(head);
    using P = std::pair<std::string, std::string>;
    EXPECT_EQ(entries(list), (std::vector<P>{{":status", "201"},
                                             {"content-type", "text/plain"},
                                             {"x-mixed-case", "V"},
                                             {"set-cookie", "a=1"},
                                             {"set-cookie", "b=2"}}));
}

TEST(H2Codec, TrailerListDropsConnectionFields) {
    HeaderList list;
    list.fields({{"Grpc-Status", "0"}, {"Transfer-Encoding", "x"}, {"TE", "trailers"}});
    using P = std::pair<std::string, std::string>;
    EXPECT_EQ(entries(list), (std::vector<P>{{"grpc-status", "0"}}));
}

}  // namespace
}  // namespace cloakroom::proxy::h2
