#include <gtest/gtest.h>

#include <chrono>

#include "util/duration.hpp"

namespace cloakroom {
namespace {

using std::chrono::seconds;

seconds parsed(std::string_view text) {
    auto result = parse_duration(text);
    EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error().message);
    return result.ok() ? *result : seconds(-1);
}

std::string error_of(std::string_view text) {
    auto result = parse_duration(text);
    EXPECT_FALSE(result.ok()) << text << " parsed as " << (result.ok() ? result->count() : 0);
    if (result.ok()) return "";
    EXPECT_EQ(result.error().code, "duration.invalid");
    return result.error().message;
}

TEST(ParseDuration, SingleUnits) {
    EXPECT_EQ(parsed("90s"), seconds(90));
    EXPECT_EQ(parsed("30m"), seconds(1800));
    EXPECT_EQ(parsed("24h"), seconds(86400));
    EXPECT_EQ(parsed("7d"), seconds(7 * 86400));
    EXPECT_EQ(parsed("1w"), seconds(7 * 86400));
    EXPECT_EQ(parsed("0s"), seconds(0));
}

TEST(ParseDuration, PlainIntegerIsSeconds) {
    EXPECT_EQ(parsed("90"), seconds(90));
    EXPECT_EQ(parsed("0"), seconds(0));
}

TEST(ParseDuration, Combinations) {
    EXPECT_EQ(parsed("1h30m"), seconds(5400));
    EXPECT_EQ(parsed("1w2d"), seconds(9 * 86400));
    EXPECT_EQ(parsed("1d2h3m4s"), seconds(86400 + 7200 + 180 + 4));
}

TEST(ParseDuration, Errors) {
    EXPECT_NE(error_of("").find("empty"), std::string::npos);
    EXPECT_NE(error_of("-5s").find("negative"), std::string::npos);
    EXPECT_NE(error_of("5x").find("unknown unit 'x'"), std::string::npos);
    EXPECT_NE(error_of("5H").find("unknown unit 'H'"), std::string::npos);
    EXPECT_NE(error_of("500ms").find("unknown unit 'ms'"), std::string::npos);
    EXPECT_NE(error_of("h").find("expected a number"), std::string::npos);
    EXPECT_NE(error_of("1h30").find("no unit"), std::string::npos);
    EXPECT_NE(error_of("30m1h").find("largest to smallest"), std::string::npos);
    EXPECT_NE(error_of("1m1m").find("largest to smallest"), std::string::npos);
    EXPECT_NE(error_of(" 5s").find("expected a number"), std::string::npos);
    EXPECT_NE(error_of("5 s").find("unknown unit ' s'"), std::string::npos);
    EXPECT_NE(error_of("+5s").find("expected a number"), std::string::npos);
}

TEST(ParseDuration, Overflow) {
    EXPECT_NE(error_of("99999999999999999999").find("too large"), std::string::npos);
    EXPECT_NE(error_of("9999999999999999w").find("too large"), std::string::npos);
    EXPECT_NE(error_of("2000000000000000w1s").find("too large"), std::string::npos);
}

TEST(FormatDuration, ShortestForm) {
    EXPECT_EQ(format_duration(seconds(0)), "0s");
    EXPECT_EQ(format_duration(seconds(45)), "45s");
    EXPECT_EQ(format_duration(seconds(90)), "1m30s");
    EXPECT_EQ(format_duration(seconds(86400)), "1d");
    EXPECT_EQ(format_duration(seconds(30 * 86400)), "30d");
    EXPECT_EQ(format_duration(seconds(5400)), "1h30m");
    EXPECT_EQ(format_duration(seconds(-90)), "-1m30s");
}

TEST(FormatDuration, RoundTrips) {
    for (std::int64_t value : {1, 59, 60, 61, 3599, 3600, 86399, 86401, 604800, 31536000}) {
        EXPECT_EQ(parsed(format_duration(seconds(value))), seconds(value)) << value;
    }
}

}  // namespace
}  // namespace cloakroom
