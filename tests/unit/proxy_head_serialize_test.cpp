// serialize_request_head / serialize_response_head must write exactly what Beast's serializer
// writes for the same header (Beast's operator<< uses the same fields writer): the fast paths
// replace the serializer only for the head bytes.
#include <gtest/gtest.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <random>
#include <sstream>
#include <string>

#include "proxy/head_serialize.hpp"

namespace cloakroom::proxy {
namespace {

namespace bhttp = boost::beast::http;

template <class Header>
std::string beast_bytes(const Header& header) {
    std::ostringstream out;
    out << header;
    return out.str();
}

TEST(ProxyHeadSerialize, RequestMatchesBeast) {
    bhttp::request_header<> request;
    request.method(bhttp::verb::get);
    request.target("/v1/charges?limit=3&x=%20y");
    request.version(11);
    request.set(bhttp::field::host, "api.example.com");
    request.set(bhttp::field::authorization, "Bearer abc");
    request.insert("X-Custom", "  spaced value\t");
    request.insert("x-custom", "second");
    request.set(bhttp::field::accept_encoding, "identity");
    const std::string expected = beast_bytes(request);
    EXPECT_EQ(serialize_request_head(request), expected);
    EXPECT_TRUE(expected.starts_with("GET /v1/charges?limit=3&x=%20y HTTP/1.1\r\n"));
    EXPECT_TRUE(expected.ends_with("\r\n\r\n"));
}

TEST(ProxyHeadSerialize, UnknownMethodAndHttp10) {
    bhttp::request_header<> request;
    request.method_string("PURGE");
    request.target("/");
    request.version(10);
    EXPECT_EQ(serialize_request_head(request), beast_bytes(request));
    EXPECT_EQ(serialize_request_head(request), "PURGE / HTTP/1.0\r\n\r\n");
}

TEST(ProxyHeadSerialize, ResponseReasonOwnOrStandard) {
    bhttp::response_header<> response;
    response.version(11);
    response.result(bhttp::status::not_found);
    response.set(bhttp::field::content_length, "12");
    response.set(bhttp::field::via, "1.1 cloakroom");
    EXPECT_EQ(serialize_response_head(response), beast_bytes(response));
    EXPECT_TRUE(serialize_response_head(response).starts_with("HTTP/1.1 404 Not Found\r\n"));
    response.reason("Nope");
    EXPECT_EQ(serialize_response_head(response), beast_bytes(response));
    EXPECT_TRUE(serialize_response_head(response).starts_with("HTTP/1.1 404 Nope\r\n"));
    response.result(599);  // no standard phrase
    response.reason("");
    EXPECT_EQ(serialize_response_head(response), beast_bytes(response));
}

// Random headers (names, values, statuses, versions) against Beast.
TEST(ProxyHeadSerialize, RandomHeadersMatchBeast) {
    std::mt19937 random(20261127);
    const std::string name_chars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    auto text = [&](const std::string& alphabet, std::size_t max) {
        std::string out(random() % max, ' ');
        for (char& c : out) c = alphabet[random() % alphabet.size()];
        return out;
    };
    std::string value_chars;
    for (int c = 0x20; c < 0x7F; ++c) value_chars += static_cast<char>(c);
    value_chars += "\t\x80\xff";
    for (int round = 0; round < 500; ++round) {
        bhttp::response_header<> response;
        response.version(random() % 2 == 0 ? 11 : 10);
        response.result(100 + random() % 500);
        if (random() % 2 == 0) response.reason(text(name_chars, 20));
        bhttp::request_header<> request;
        request.method(static_cast<bhttp::verb>(1 + random() % 30));
        request.target("/" + text(name_chars, 40));
        request.version(11);
        const int fields = static_cast<int>(random() % 20);
        for (int i = 0; i < fields; ++i) {
            const std::string name = "X" + text(name_chars, 12);
            const std::string value = text(value_chars, 60);
            response.insert(name, value);
            request.insert(name, value);
        }
        ASSERT_EQ(serialize_response_head(response), beast_bytes(response)) << round;
        ASSERT_EQ(serialize_request_head(request), beast_bytes(request)) << round;
    }
}

}  // namespace
}  // namespace cloakroom::proxy
