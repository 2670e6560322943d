// parse_ip_literal is strict: a literal that two parsers could read differently (octal parts,
// shorthand, zone ids) is how an SSRF guard gets bypassed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/address_policy.hpp"

namespace cloakroom::policy {
namespace {

TEST(AddressParse, AcceptsCanonicalForms) {
    const std::vector<std::pair<std::string, std::vector<std::uint8_t>>> cases = {
        {"1.2.3.4", {1, 2, 3, 4}},
        {"0.0.0.0", {0, 0, 0, 0}},
        {"255.255.255.255", {255, 255, 255, 255}},
        {"10.0.0.10", {10, 0, 0, 10}},
        {"::1", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
        {"[::1]", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
        {"::", std::vector<std::uint8_t>(16, 0)},
        {"::ffff:1.2.3.4", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}},
        {"[::FFFF:1.2.3.4]", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}},
        {"2001:db8:0:0:1:0:0:1", {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
        {"fe80::0001", {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
        {"1:2:3:4:5:6:7:8", {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}},
    };
    for (const auto& [text, bytes] : cases) {
        SCOPED_TRACE(text);
        auto parsed = parse_ip_literal(text);
        ASSERT_TRUE(parsed.ok()) << parsed.error().message;
        EXPECT_EQ(*parsed, bytes);
    }
}

TEST(AddressParse, RefusesAmbiguousOrMalformedText) {
    const std::vector<std::string> refused = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.04",
        "010.0.0.1",
        "0x7f.0.0.1",
        "0x7f000001",
        "2130706433",
        "127.1",
        "1.2.3.256",
        "1.2.3.-1",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.",
        ".1.2.3",
        "1..2.3",
        "1.2.3.4/8",
        "1.2.3.4:80",
        "[1.2.3.4]",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "::1%1",
        "[::1",
        "::1]",
        "[]",
        "[::1]:443",
        "1::2::3",
        "12345::1",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:01.2.3.4",
        "::ffff:1.2.3",
        "::ffff:1.2.3.4.5",
        "g::1",
        "localhost",
        "example.com",
        std::string("1.2.3.4\0", 8),
        std::string(100, '1'),
    };
    for (const std::string& text : refused) {
        SCOPED_TRACE(text);
        auto parsed = parse_ip_literal(text);
        ASSERT_FALSE(parsed.ok());
        EXPECT_EQ(parsed.error().code, "address.invalid");
        for (char c : parsed.error().message) {
            EXPECT_TRUE(c >= 0x20 && c < 0x7F) << parsed.error().message;
        }
    }
}

TEST(AddressParse, EveryParsedAddressRoundTripsThroughFormat) {
    for (const std::string text : {"1.2.3.4", "::1", "::ffff:127.0.0.1", "2001:db8::1",
                                   "fd00:ec2::254", "64:ff9b::a9fe:a9fe"}) {
        SCOPED_TRACE(text);
        auto parsed = parse_ip_literal(text);
        ASSERT_TRUE(parsed.ok());
        auto again = parse_ip_literal(format_address(*parsed));
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(*again, *parsed);
    }
}

}  // namespace
}  // namespace cloakroom::policy
