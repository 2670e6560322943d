// ResponseFilter::filter, what the relays call per piece: a plain body is redacted where it lies
// (no copy), with the same output as feed() at every split; bodies that are decoded or framed
// (gRPC) still go through feed().
#include <gtest/gtest.h>

#include <string>

#include "generated_secret.hpp"
#include "proxy/response_filter.hpp"

namespace cloakroom::proxy {
namespace {

std::optional<ResponseFilter> filter_for(const CompiledNeedles& needles,
                                         std::string_view content_type) {
    http::Head head;
    EXPECT_TRUE(head.parse_response(
        "HTTP/1.1 200 OK\r\ncontent-type: " + std::string(content_type) + "\r\n\r\n"));
    std::optional<ResponseFilter> filter;
    EXPECT_FALSE(prepare_response_filter(needles, head, filter).has_value());
    return filter;
}

TEST(ResponseFilter, APlainBodyIsRedactedWhereItLies) {
    const std::string secret = test::generated_secret();
    const CompiledNeedles needles({secret});
    auto filter = filter_for(needles, "application/json");
    ASSERT_TRUE(filter);
    std::string piece = "{\"echo\":\"" + secret + "\"}";
    const std::string expected = "{\"echo\":\"" + std::string(secret.size(), '*') + "\"}";
    std::string scratch;
    std::string_view out;
    ASSERT_FALSE(filter->filter(piece, true, scratch, out));
    EXPECT_EQ(out, expected);
    EXPECT_EQ(out.data(), piece.data());               // no copy
    EXPECT_EQ(piece.find(secret), std::string::npos);  // starred in the relay's buffer too
}

TEST(ResponseFilter, InPlaceMatchesFeedAtEverySplit) {
    const std::string secret = test::generated_secret();
    const CompiledNeedles needles({secret, "Bearer " + secret});
    const std::string body = "a " + secret + " b Bearer " + secret + " c " + secret.substr(0, 5);
    std::string expected;
    {
        auto reference = filter_for(needles, "text/plain");
        ASSERT_TRUE(reference);
        ASSERT_FALSE(reference->feed(body, true, expected));
    }
    ASSERT_EQ(expected.find(secret), std::string::npos);
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        auto filter = filter_for(needles, "text/plain");
        ASSERT_TRUE(filter);
        std::string first = body.substr(0, cut);
        std::string second = body.substr(cut);
        std::string scratch;
        std::string_view out;
        std::string got;
        ASSERT_FALSE(filter->filter(first, false, scratch, out));
        got.append(out);
        ASSERT_FALSE(filter->filter(second, true, scratch, out));
        got.append(out);
        EXPECT_EQ(got, expected) << cut;
    }
}

TEST(ResponseFilter, FramedBodiesStillGoThroughFeed) {
    const std::string secret = test::generated_secret();
    const CompiledNeedles needles({secret});
    auto filter = filter_for(needles, "application/grpc");
    ASSERT_TRUE(filter);
    // A gRPC message ending in the secret's first bytes: flushed at the message's end, which
    // only feed() knows (the in-place path would hold the bytes back).
    std::string payload = "echo:" + secret.substr(0, 4);
    std::string piece(5, '\0');
    piece[4] = static_cast<char>(payload.size());
    piece += payload;
    const std::string original = piece;
    std::string scratch;
    std::string_view out;
    ASSERT_FALSE(filter->filter(piece, false, scratch, out));
    EXPECT_EQ(out, original);
    EXPECT_EQ(out.data(), scratch.data());
}

}  // namespace
}  // namespace cloakroom::proxy
