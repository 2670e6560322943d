#include <gtest/gtest.h>

#include "util/time_parse.hpp"

namespace cloakroom {
namespace {

TEST(ParseTime, UnixSeconds) {
    EXPECT_EQ(*parse_time("0"), 0);
    EXPECT_EQ(*parse_time("1700000000"), 1700000000);
    EXPECT_EQ(*parse_time("-5"), -5);
    EXPECT_FALSE(parse_time("99999999999999999999999").ok());
}

TEST(ParseTime, Rfc3339) {
    EXPECT_EQ(*parse_time("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(*parse_time("2024-01-01T00:00:00Z"), 1704067200);
    EXPECT_EQ(*parse_time("2100-01-01T00:00:00Z"), 4102444800);
    EXPECT_EQ(*parse_time("2024-01-01T01:00:00+01:00"), 1704067200);
    EXPECT_EQ(*parse_time("2023-12-31T19:00:00-05:00"), 1704067200);
    EXPECT_EQ(*parse_time("2024-01-01T00:00:00.999Z"), 1704067200);
    EXPECT_EQ(*parse_time("2024-02-29T00:00:00Z"), 1709164800);
}

TEST(ParseTime, RejectsMalformed) {
    for (const char* bad :
         {"", "yesterday", "2024-01-01", "2024-01-01T00:00:00", "2023-02-29T00:00:00Z",
          "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+0100",
          "2024-01-01T00:00:00Zjunk", "2024-01-01T00:00:00.Z", "12a"}) {
        auto r = parse_time(bad);
        EXPECT_FALSE(r.ok()) << bad;
        if (!r.ok()) {
            EXPECT_EQ(r.error().code, "time.invalid");
        }
    }
}

TEST(FormatTime, Utc) {
    EXPECT_EQ(format_time_utc(1704067200), "2024-01-01T00:00:00Z");
    EXPECT_EQ(*parse_time(format_time_utc(4102444800)), 4102444800);
}

}  // namespace
}  // namespace cloakroom
