// find_head_end and the early checks on a head that is still arriving: the proxy must be able
// to refuse a lenient terminator or an oversized head without waiting for more bytes.
#include <gtest/gtest.h>

#include <string>

#include "http/head_validator.hpp"

namespace cloakroom::http {
namespace {

TEST(HttpHeadEnd, FindsCrlfCrlf) {
    const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto end = find_head_end(head + "body bytes\r\n\r\n");
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->size, head.size());
    EXPECT_FALSE(end->malformed_terminator);
}

TEST(HttpHeadEnd, IncompleteHeads) {
    for (const std::string buffer :
         {"", "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\n",
          "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r",
          "GET / HTTP/1.1\r\nHost: a\r\r\n", "\r\n"}) {
        SCOPED_TRACE(buffer);
        EXPECT_FALSE(find_head_end(buffer).has_value());
    }
}

TEST(HttpHeadEnd, LenientTerminatorsAreReportedEarly) {
    struct Case {
        std::string buffer;
        std::size_t size;
    };
    const Case cases[] = {
        {"GET / HTTP/1.1\nHost: a\n\nmore", 24},      // \n\n
        {"GET / HTTP/1.1\r\nHost: a\r\n\nmore", 26},  // \r\n\n
        {"GET / HTTP/1.1\r\nHost: a\n\r\nmore", 26},  // \n\r\n
        {"\n\n", 2},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.buffer);
        const auto end = find_head_end(c.buffer);
        ASSERT_TRUE(end.has_value());
        EXPECT_EQ(end->size, c.size);
        EXPECT_TRUE(end->malformed_terminator);
        // The prefix it reports is what the validator then refuses, precisely.
        const auto rejection =
            validate_request_head(std::string_view(c.buffer).substr(0, end->size));
        ASSERT_TRUE(rejection.has_value());
        EXPECT_EQ(rejection->status, 400u);
        EXPECT_NE(rejection->reason.find("bare LF"), std::string::npos) << rejection->reason;
    }
}

TEST(HttpHeadEnd, FirstTerminatorWins) {
    const auto end = find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\nX: y\n\n");
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->size, 27u);
    EXPECT_FALSE(end->malformed_terminator);
}

TEST(HttpHeadEnd, IncompleteRequestKeepsReadingWhenNothingIsWrongYet) {
    EXPECT_FALSE(check_incomplete_request_head(""));
    EXPECT_FALSE(check_incomplete_request_head("GET / HTTP/1.1\r"));
    EXPECT_FALSE(check_incomplete_request_head("GET / HTTP/1.1\r\nHost: a\r\nX-A: b"));
}

TEST(HttpHeadEnd, IncompleteRequestRefusedEarly) {
    const HeadLimits limits{.max_head_bytes = 100, .max_fields = 10, .max_line_bytes = 40};
    const auto bare_lf = check_incomplete_request_head("GET / HTTP/1.1\nHost", limits);
    ASSERT_TRUE(bare_lf.has_value());
    EXPECT_EQ(bare_lf->status, 400u);
    const auto bare_cr = check_incomplete_request_head("GET / HTTP/1.1\rHost", limits);
    ASSERT_TRUE(bare_cr.has_value());
    EXPECT_EQ(bare_cr->status, 400u);
    const auto big = check_incomplete_request_head(std::string(101, 'a'), limits);
    ASSERT_TRUE(big.has_value());
    EXPECT_EQ(big->status, 431u);
    const auto long_target = check_incomplete_request_head("GET /" + std::string(40, 'a'), limits);
    ASSERT_TRUE(long_target.has_value());
    EXPECT_EQ(long_target->status, 414u);
    const auto long_field =
        check_incomplete_request_head("GET / HTTP/1.1\r\nX: " + std::string(38, 'a'), limits);
    ASSERT_TRUE(long_field.has_value());
    EXPECT_EQ(long_field->status, 431u);
    // Exactly at the line limit, with the CR of the CRLF already received: keep reading.
    EXPECT_FALSE(check_incomplete_request_head(
        "GET / HTTP/1.1\r\nX: " + std::string(37, 'a') + "\r", limits));
    const auto upstream = check_incomplete_response_head(std::string(101, 'a'), limits);
    ASSERT_TRUE(upstream.has_value());
    EXPECT_EQ(upstream->status, 502u);
}

TEST(HttpHeadLimits, HeadSize) {
    const std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(50, 'a') + "\r\n\r\n";
    HeadLimits limits;
    limits.max_head_bytes = head.size();
    EXPECT_FALSE(validate_request_head(head, limits));
    limits.max_head_bytes = head.size() - 1;
    const auto rejection = validate_request_head(head, limits);
    ASSERT_TRUE(rejection.has_value());
    EXPECT_EQ(rejection->status, 431u);
    EXPECT_NE(rejection->reason.find("the limit is"), std::string::npos);
    const auto upstream = validate_response_head(
        "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a') + "\r\n\r\n", limits);
    ASSERT_TRUE(upstream.has_value());
    EXPECT_EQ(upstream->status, 502u);
}

TEST(HttpHeadLimits, FieldCount) {
    HeadLimits limits;
    limits.max_fields = 5;
    std::string fields = "Host: a\r\n";
    for (int i = 1; i < 5; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
    EXPECT_FALSE(validate_request_head("GET / HTTP/1.1\r\n" + fields + "\r\n", limits));
    const auto rejection =
        validate_request_head("GET / HTTP/1.1\r\n" + fields + "X-5: v\r\n\r\n", limits);
    ASSERT_TRUE(rejection.has_value());
    EXPECT_EQ(rejection->status, 431u);
    EXPECT_EQ(rejection->reason, "more than 5 header fields");
}

TEST(HttpHeadLimits, DefaultFieldCountIs100) {
    std::string fields = "Host: a\r\n";
    for (int i = 1; i < 100; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
    EXPECT_FALSE(validate_request_head("GET / HTTP/1.1\r\n" + fields + "\r\n"));
    const auto rejection = validate_request_head("GET / HTTP/1.1\r\n" + fields + "X: v\r\n\r\n");
    ASSERT_TRUE(rejection.has_value());
    EXPECT_EQ(rejection->status, 431u);
}

TEST(HttpHeadLimits, LineLength) {
    HeadLimits limits;
    limits.max_line_bytes = 30;
    const std::string field_at_limit = "X: " + std::string(27, 'a');
    EXPECT_FALSE(validate_request_head(
        "GET / HTTP/1.1\r\nHost: a\r\n" + field_at_limit + "\r\n\r\n", limits));
    const auto field = validate_request_head(
        "GET / HTTP/1.1\r\nHost: a\r\n" + field_at_limit + "a\r\n\r\n", limits);
    ASSERT_TRUE(field.has_value());
    EXPECT_EQ(field->status, 431u);
    EXPECT_NE(field->reason.find("line 3 is 31 bytes"), std::string::npos) << field->reason;

    const std::string line_at_limit = "GET /" + std::string(16, 'a') + " HTTP/1.1";
    ASSERT_EQ(line_at_limit.size(), 30u);
    EXPECT_FALSE(validate_request_head(line_at_limit + "\r\nHost: a\r\n\r\n", limits));
    const auto target = validate_request_head(
        "GET /" + std::string(17, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", limits);
    ASSERT_TRUE(target.has_value());
    EXPECT_EQ(target->status, 414u);

    const auto upstream =
        validate_response_head("HTTP/1.1 200 OK\r\n" + field_at_limit + "a\r\n\r\n", limits);
    ASSERT_TRUE(upstream.has_value());
    EXPECT_EQ(upstream->status, 502u);
}

}  // namespace
}  // namespace cloakroom::http
