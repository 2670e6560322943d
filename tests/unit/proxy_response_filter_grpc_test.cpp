// The response filter on a gRPC body: flushed at every message's end, so a bidirectional call is
// never stalled by a held-back needle prefix; secrets inside a message still starred; a
// compressed message refused (it cannot be redacted).
#include <gtest/gtest.h>

#include <string>

#include "generated_secret.hpp"
#include "proxy/response_filter.hpp"

namespace cloakroom::proxy {
namespace {

std::string grpc_message(std::string_view payload, bool compressed = false) {
    std::string out(5, '\0');
    out[0] = compressed ? 1 : 0;
    const auto n = static_cast<std::uint32_t>(payload.size());
    out[1] = static_cast<char>(n >> 24);
    out[2] = static_cast<char>(n >> 16);
    out[3] = static_cast<char>(n >> 8);
    out[4] = static_cast<char>(n);
    return out + std::string(payload);
}

std::optional<ResponseFilter> grpc_filter(const CompiledNeedles& needles) {
    http::Head head;
    EXPECT_TRUE(
        head.parse_response("HTTP/1.1 200 OK\r\ncontent-type: application/grpc+proto\r\n\r\n"));
    std::optional<ResponseFilter> filter;
    EXPECT_FALSE(prepare_response_filter(needles, head, filter).has_value());
    return filter;
}

TEST(ResponseFilterGrpc, AMessageEndingInANeedlePrefixIsNotHeldBack) {
    const std::string secret = test::generated_secret();
    const CompiledNeedles needles({secret});
    auto filter = grpc_filter(needles);
    ASSERT_TRUE(filter);
    // The message ends with the secret's first bytes: a plain redactor would hold them back
    // until more data came, which in a ping-pong call is never.
    const std::string message = grpc_message("echo:" + secret.substr(0, 4));
    std::string out;
    ASSERT_FALSE(filter->feed(message, false, out));
    EXPECT_EQ(out, message);
}

TEST(ResponseFilterGrpc, SecretsInsideAMessageAreStarredAtEverySplit) {
    const std::string secret = test::generated_secret();
    const CompiledNeedles needles({secret});
    const std::string body = grpc_message("a " + secret + " b") + grpc_message("next");
    const std::string expected =
        grpc_message("a " + std::string(secret.size(), '*') + " b") + grpc_message("next");
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        auto filter = grpc_filter(needles);
        ASSERT_TRUE(filter);
        std::string out;
        ASSERT_FALSE(filter->feed(std::string_view(body).substr(0, cut), false, out));
        ASSERT_FALSE(filter->feed(std::string_view(body).substr(cut), true, out));
        EXPECT_EQ(out, expected) << cut;
    }
}

TEST(ResponseFilterGrpc, ACompressedMessageIsRefused) {
    const CompiledNeedles needles({test::generated_secret()});
    auto filter = grpc_filter(needles);
    ASSERT_TRUE(filter);
    std::string out;
    auto ec = filter->feed(grpc_message("x") + grpc_message("zz", true), false, out);
    EXPECT_EQ(ec, make_error_code(BodyDecodeError::grpc_compressed));
    EXPECT_EQ(out.find("zz"), std::string::npos);
}

TEST(ResponseFilterGrpc, OtherBodiesKeepTheirHoldBack) {
    const std::string secret = test::generated_secret();
    const CompiledNeedles needles({secret});
    http::Head head;
    ASSERT_TRUE(head.parse_response("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n"));
    std::optional<ResponseFilter> filter;
    ASSERT_FALSE(prepare_response_filter(needles, head, filter).has_value());
    std::string out;
    ASSERT_FALSE(filter->feed("x " + secret.substr(0, 4), false, out));
    EXPECT_EQ(out, "x ");  // the prefix waits: it may be the start of the secret
}

}  // namespace
}  // namespace cloakroom::proxy
