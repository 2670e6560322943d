// all_field_value_chars (8 bytes per step) must agree with the byte rule is_field_value_char
// for every byte value at every position of a word and of the tail, next to obs-text bytes
// (whose high bit could hide a borrow) and in random mixtures.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "http/head_text.hpp"

namespace cloakroom::http::detail {
namespace {

bool reference(std::string_view text) {
    for (char c : text) {
        if (!is_field_value_char(c)) return false;
    }
    return true;
}

TEST(HttpHeadText, FieldValueBytesAgreeWithTheByteRuleAtEveryPosition) {
    for (const char filler : {'a', ' ', '\t', '\x80', '\xff', '\x7e', '\x20'}) {
        for (std::size_t length = 1; length <= 24; ++length) {
            for (std::size_t at = 0; at < length; ++at) {
                for (int byte = 0; byte < 256; ++byte) {
                    std::string text(length, filler);
                    text[at] = static_cast<char>(byte);
                    ASSERT_EQ(all_field_value_chars(text), reference(text))
                        << "filler " << int(static_cast<unsigned char>(filler)) << " length "
                        << length << " byte " << byte << " at " << at;
                }
            }
        }
    }
    EXPECT_TRUE(all_field_value_chars(""));
}

TEST(HttpHeadText, FieldValueBytesAgreeOnRandomMixtures) {
    std::mt19937 random(20261127);
    // Mostly the bytes that sit at the edges of the rule.
    const std::string edges("\x00\x01\x08\x09\x0a\x0d\x1f\x20\x21\x7e\x7f\x80\xa0\xff", 14);
    std::uniform_int_distribution<int> pick(0, 3);
    std::uniform_int_distribution<std::size_t> edge(0, edges.size() - 1);
    std::uniform_int_distribution<int> any(0x20, 0x7e);
    std::uniform_int_distribution<std::size_t> length(0, 70);
    int rejected = 0;
    for (int round = 0; round < 100000; ++round) {
        std::string text(length(random), 'x');
        for (char& c : text) {
            c = pick(random) == 0 && round % 4 == 0 ? edges[edge(random)]
                                                    : static_cast<char>(any(random));
        }
        const bool expected = reference(text);
        rejected += expected ? 0 : 1;
        ASSERT_EQ(all_field_value_chars(text), expected) << "round " << round;
    }
    EXPECT_GT(rejected, 1000);  // the mixtures did exercise the failing side
}

}  // namespace
}  // namespace cloakroom::http::detail
