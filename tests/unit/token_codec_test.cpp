// Decoder strictness: every malformed input is a precise error, never a crash or a big
// allocation; the encoder writes the canonical forms of README §3.6.
#include <gtest/gtest.h>

#include <string>

#include "token/chain.hpp"
#include "token/macaroon.hpp"
#include "token/token_text.hpp"
#include "util/base64.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

// Vector host_single.
const std::string kHostSingleHex =
    "9493c4077072696d617279c410e7dce61a6aab7f7597d3fae72207e9edc2ab6167656e742d637265647392cf0000"
    "0001000000019191ae6170692e7374726970652e636f6dc42096296e152dde544a204ae589ed0ffea8aa7cab44f3"
    "8104dfa47271d0ad08662c";

std::string bytes(const std::string& hex) {
    return *hex_decode(hex);
}

std::string decode_error(const std::string& wire) {
    auto m = decode_macaroon(wire);
    EXPECT_FALSE(m.ok());
    if (m.ok()) return {};
    EXPECT_EQ(m.error().code, "token.decode");
    return m.error().message;
}

// A macaroon with the given caveat array bytes (nonce and tail from host_single).
std::string with_caveats(const std::string& caveats_hex) {
    return bytes(
        "9493c4077072696d617279c410e7dce61a6aab7f7597d3fae72207e9edc2ab6167656e742d637265"
        "6473" +
        caveats_hex + "c420" + std::string(64, '0'));
}

TEST(TokenCodec, DecodesAndReencodesHostSingle) {
    auto m = decode_macaroon(bytes(kHostSingleHex));
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->nonce.kid, "primary");
    EXPECT_EQ(m->location, "agent-creds");
    ASSERT_EQ(m->caveats.size(), 1u);
    EXPECT_EQ(std::get<Hosts>(m->caveats[0]).hosts, std::vector<std::string>{"api.stripe.com"});
    EXPECT_EQ(hex_encode(encode_macaroon(*m)), kHostSingleHex);
}

TEST(TokenCodec, StructuralErrorsArePrecise) {
    EXPECT_EQ(decode_error(""), "decode: unexpected end of data");
    const std::string whole = bytes(kHostSingleHex);
    EXPECT_EQ(decode_error(whole.substr(0, whole.size() - 5)), "decode: unexpected end of data");
    EXPECT_EQ(decode_error(whole + std::string(1, '\0')),
              "decode: 1 trailing bytes after the macaroon");
    EXPECT_EQ(decode_error(bytes("93c0c0c0")),
              "decode: macaroon must be an array of 4 elements, got array of 3");
    EXPECT_EQ(decode_error(bytes("81a161a162")),
              "decode: macaroon must be an array of 4 elements, got map of 1");
    EXPECT_EQ(decode_error(bytes("94c0a0"
                                 "90"
                                 "c420" +
                                 std::string(64, '0'))),
              "decode: nonce must be an array of 3 elements (or the legacy 2), got nil");
    EXPECT_EQ(decode_error(bytes("9494c400c400c2c2a090c420" + std::string(64, '0'))),
              "decode: nonce must be an array of 3 elements (or the legacy 2), got array of 4");
    EXPECT_EQ(decode_error(bytes("9493a0c400c2a090c420" + std::string(64, '0'))),
              "decode: nonce key id must be bin, got str");
    EXPECT_EQ(decode_error(bytes("9493c400c400c0a090c420" + std::string(64, '0'))),
              "decode: nonce proof flag must be bool, got nil");
    EXPECT_EQ(decode_error(bytes("9493c400c400c2c40090c420" + std::string(64, '0'))),
              "decode: location must be str, got bin");
    EXPECT_EQ(decode_error(bytes("9493c400c400c2a090c41f" + std::string(62, '0'))),
              "decode: tail must be 32 bytes of bin, got bin of 31 bytes");
    EXPECT_EQ(decode_error(bytes("9493c400c400c2a090a0")),
              "decode: tail must be 32 bytes of bin, got str");
}

TEST(TokenCodec, CaveatErrorsNameTheCaveat) {
    EXPECT_EQ(decode_error(with_caveats("9104")),
              "decode: caveat array has odd length 1 (expected type/body pairs)");
    EXPECT_EQ(decode_error(with_caveats("92a178c0")),
              "decode: caveat 1: type must be an unsigned integer, got str");
    EXPECT_EQ(decode_error(with_caveats("92ff90")),
              "decode: caveat 1: type must be an unsigned integer, got negative integer");
    // APIHost body written as a bare list instead of a 1-field struct.
    EXPECT_EQ(decode_error(with_caveats("9404920102cf000000010000000192a161a162")),
              "decode: caveat 2: APIHost body must be an array of 1 element, got array of 2");
    EXPECT_EQ(decode_error(with_caveats("92cf00000001000000019191c0")),
              "decode: caveat 1: APIHost hosts entry 1 must be str, got nil");
    EXPECT_EQ(decode_error(with_caveats("92cf000000010000000291a3474554")),
              "decode: caveat 1: APIMethod methods must be an array of str or nil, got str");
    EXPECT_EQ(decode_error(with_caveats("920492a10102")),
              "decode: caveat 1: ValidityWindow not_before must be an integer, got str");
    EXPECT_EQ(decode_error(with_caveats("920492cfffffffffffffffff02")),
              "decode: caveat 1: ValidityWindow not_before does not fit a signed 64-bit integer");
    EXPECT_EQ(decode_error(with_caveats("920b93a0c400a0")),
              "decode: caveat 1: 3P ticket must be bin, got str");
    EXPECT_EQ(decode_error(with_caveats("920ca0")),
              "decode: caveat 1: BindToParentToken body must be bin, got str");
    EXPECT_EQ(decode_error(with_caveats("92cf000000010000000491c400")),
              "decode: caveat 1: Attestation nonce must be str, got bin");
}

TEST(TokenCodec, RejectsNonCanonicalEncodings) {
    // ValidityWindow [1, 2] with the 1 written as uint8 (cc 01) instead of fixint.
    EXPECT_NE(decode_error(with_caveats("920492cc0102")).find("non-canonical encoding"),
              std::string::npos);
    // A 3-byte str8 header for a 1-byte location.
    EXPECT_NE(decode_error(bytes("9493c400c400c2d90161"
                                 "90"
                                 "c420" +
                                 std::string(64, '0')))
                  .find("non-canonical encoding"),
              std::string::npos);
    // The macaroon array itself as array16.
    EXPECT_NE(
        decode_error(bytes("dc00049493c400c400c2a090c420" + std::string(64, '0')).substr(0)).size(),
        0u);
    EXPECT_NE(decode_error(bytes("dc000493c400c400c2a090c420" + std::string(64, '0')))
                  .find("non-canonical encoding"),
              std::string::npos);
}

TEST(TokenCodec, HugeDeclaredLengthsFailWithoutAllocating) {
    // array32 of 2^32-1 elements and map32 are rejected from the header (msgpack-cxx would
    // allocate their element tables up front); str32/bin32 of 4 GiB wait for bytes that are not
    // there (nothing is copied before the whole value is in the input).
    EXPECT_EQ(decode_error(bytes("ddffffffff")), "decode: declared array length exceeds the limit");
    EXPECT_EQ(decode_error(bytes("dfffffffff")), "decode: declared map size exceeds the limit");
    EXPECT_EQ(decode_error(bytes("dbffffffff")), "decode: unexpected end of data");
    EXPECT_EQ(decode_error(bytes("c6ffffffff")), "decode: unexpected end of data");
    EXPECT_EQ(decode_error(with_caveats("92cf0001000000000001ddffffffff")),
              "decode: declared array length exceeds the limit");
    // Deep nesting inside an unknown caveat body.
    EXPECT_EQ(decode_error(with_caveats("92cf0001000000000001" + std::string(200, '9') + "10")),
              "decode: nesting deeper than the limit");
    EXPECT_EQ(decode_error(std::string(70 * 1024, '\x90')).substr(0, 20), "decode: macaroon of ");
    EXPECT_EQ(decode_error(bytes("c1")), "decode: invalid msgpack (reserved type byte)");
}

TEST(TokenCodec, UnknownCaveatsKeepTheirBytes) {
    // Type 2^48+42 with a body a Go encoder might write non-minimally (d3 int64 for 1): kept
    // verbatim, because only Cloakroom-known types are re-encoded.
    const std::string caveats = "92cf000100000000002a92a8782d637573746f6dd30000000000000001";
    auto m = decode_macaroon(with_caveats(caveats));
    ASSERT_TRUE(m.ok()) << m.error().message;
    ASSERT_EQ(m->caveats.size(), 1u);
    const auto& unknown = std::get<UnknownCaveat>(m->caveats[0]);
    EXPECT_EQ(unknown.type, (std::uint64_t{1} << 48) + 42);
    EXPECT_EQ(hex_encode(unknown.body), "92a8782d637573746f6dd30000000000000001");
    EXPECT_EQ(encode_macaroon(*m), with_caveats(caveats));
}

TEST(TokenCodec, CanonicalIntegerAndStringForms) {
    auto hex_body = [](const Caveat& c) { return hex_encode(encode_caveat_body(c)); };
    EXPECT_EQ(hex_body(ValidityWindow{0, 127}), "92007f");
    EXPECT_EQ(hex_body(ValidityWindow{128, 255}), "92cc80ccff");
    EXPECT_EQ(hex_body(ValidityWindow{256, 65536}), "92cd0100ce00010000");
    EXPECT_EQ(hex_body(ValidityWindow{-1, -33}), "92ffd0df");
    EXPECT_EQ(hex_body(ValidityWindow{-200, std::int64_t{1} << 40}), "92d1ff38cf0000010000000000");
    EXPECT_EQ(hex_body(Hosts{std::nullopt}), "91c0");
    EXPECT_EQ(hex_body(Hosts{std::vector<std::string>{}}), "9190");
    EXPECT_EQ(hex_body(Hosts{std::vector<std::string>{std::string(32, 'a')}}).substr(0, 8),
              "9191d920");
    EXPECT_EQ(hex_body(BindToParent{"\x01"}), "c40101");
    EXPECT_EQ(hex_encode(encode_caveat_hmac_input(Hosts{std::nullopt})),
              "92cf000000010000000191c0");
    std::vector<Caveat> nine(9, Caveat(ValidityWindow{1, 2}));
    EXPECT_EQ(hex_encode(encode_caveat_set(nine)).substr(0, 6), "dc0012");
}

TEST(TokenCodec, LegacyNonceRoundTrips) {
    Nonce legacy{"k", std::string(16, 'r'), false, true};
    EXPECT_EQ(hex_encode(encode_nonce(legacy)).substr(0, 8), "92c4016b");
    Macaroon m{legacy, "loc", {}, std::string(32, 't')};
    auto back = decode_macaroon(encode_macaroon(m));
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(back->nonce.legacy);
    EXPECT_EQ(*back, m);
}

TEST(TokenText, PrefixAndBase64AreStrict) {
    const TokenFormat format;
    const std::string token = "acm_" + base64url_encode(bytes(kHostSingleHex));
    EXPECT_TRUE(decode_token(token, format).ok());
    auto wrong_prefix = decode_token("acx_" + token.substr(4), format);
    ASSERT_FALSE(wrong_prefix.ok());
    EXPECT_EQ(wrong_prefix.error().message, "invalid token prefix (expected acm_)");
    auto padded = decode_token(token + "=", format);
    ASSERT_FALSE(padded.ok());
    EXPECT_NE(padded.error().message.find("invalid token encoding"), std::string::npos);
    EXPECT_FALSE(decode_token(token + " ", format).ok());
    EXPECT_FALSE(decode_token("acm_", format).ok());
    EXPECT_TRUE(decode_token("xyz_" + token.substr(4), TokenFormat{"xyz_", "x"}).ok());
}

TEST(TokenText, HeaderSplitting) {
    const TokenFormat format;
    auto plain = split_header("acm_a", format);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain->main, "acm_a");
    EXPECT_TRUE(plain->discharges.empty());

    auto full = split_header("Bearer acm_a , acm_b,, acm_c ,", format);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->main, "acm_a");
    EXPECT_EQ(full->discharges, (std::vector<std::string>{"acm_b", "acm_c"}));

    auto message = [&](std::string_view header) {
        auto r = split_header(header, format);
        EXPECT_FALSE(r.ok()) << header;
        EXPECT_EQ(r.ok() ? "" : r.error().code, "token.header");
        return r.ok() ? std::string() : r.error().message;
    };
    EXPECT_EQ(message(""), "missing authorization header");
    EXPECT_EQ(message("bearer acm_a"), "invalid authorization header format");
    EXPECT_EQ(message("fm2_a"), "invalid authorization header format");
    EXPECT_EQ(message("Bearer "), "no token found");
    EXPECT_EQ(message("Bearer ,acm_a"), "no token found");
    EXPECT_EQ(message("Bearer acx_a"), "invalid main token prefix");
    EXPECT_EQ(message("acm_a,fm2_b"), "invalid discharge token prefix");
    std::string many = "acm_a";
    for (int i = 0; i < 40; ++i) many += ",acm_b";
    EXPECT_EQ(message(many), "too many tokens in header");
}

}  // namespace
}  // namespace cloakroom::token
