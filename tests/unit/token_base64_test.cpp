#include <gtest/gtest.h>

#include "util/base64.hpp"
#include "util/hex.hpp"

namespace cloakroom {
namespace {

TEST(Base64, RoundTripsBothAlphabets) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"}) {
        auto std_text = base64_encode(s);
        auto url_text = base64url_encode(s);
        ASSERT_TRUE(base64_decode(std_text).ok()) << std_text;
        EXPECT_EQ(*base64_decode(std_text), s);
        ASSERT_TRUE(base64url_decode(url_text).ok()) << url_text;
        EXPECT_EQ(*base64url_decode(url_text), s);
        EXPECT_EQ(url_text.find('='), std::string::npos);
    }
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, StrictDecoders) {
    EXPECT_FALSE(base64url_decode("Zm8=").ok());  // padding
    EXPECT_FALSE(base64url_decode("+/8").ok());   // standard alphabet
    EXPECT_FALSE(base64url_decode("Zm8 ").ok());  // whitespace
    EXPECT_FALSE(base64url_decode("Zm9").ok());   // non-zero trailing bits ("Zm8" is canonical)
    EXPECT_FALSE(base64url_decode("Z").ok());     // a single leftover character
    EXPECT_TRUE(base64url_decode("Zm8").ok());
    EXPECT_FALSE(base64_decode("Zm8").ok());   // missing padding
    EXPECT_FALSE(base64_decode("Zm==").ok());  // non-zero trailing bits
    EXPECT_FALSE(base64_decode("Z===").ok());
    EXPECT_FALSE(base64_decode("Zm8=Zm8=").ok());  // padding in the middle
    EXPECT_FALSE(base64_decode("-_8=").ok());
    auto bad = base64url_decode("abc$");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "base64.invalid");
    EXPECT_EQ(bad.error().message, "illegal base64 data at input byte 3");
}

TEST(Hex, RoundTrip) {
    EXPECT_EQ(hex_encode("\x01\xab"), "01ab");
    EXPECT_EQ(*hex_decode("01AB"), "\x01\xab");
    EXPECT_FALSE(hex_decode("0").ok());
    EXPECT_FALSE(hex_decode("0g").ok());
}

}  // namespace
}  // namespace cloakroom
