// tests/vectors/superfly_reference.json: the reference library's own generator output (Fly.io
// "FlyV1 fm2_" tokens, standard base64 with padding, random keys, many caveat types Cloakroom does
// not know). Proves byte compatibility beyond agent-creds' caveats.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "token/chain.hpp"
#include "token/macaroon.hpp"
#include "token/signature.hpp"
#include "token/third_party.hpp"
#include "util/base64.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

using nlohmann::json;

const json& reference() {
    static const json doc = [] {
        std::ifstream in(std::string(CLOAKROOM_VECTORS_DIR) + "/superfly_reference.json");
        return json::parse(in);
    }();
    return doc;
}

std::string b64(const json& value) {
    auto bytes = base64_decode(value.get<std::string>());
    EXPECT_TRUE(bytes.ok()) << value;
    return bytes.ok() ? *bytes : std::string();
}

// "FlyV1 fm2_A,fm2_B" -> wire bytes of each token.
std::vector<std::string> fly_tokens(const std::string& header) {
    const std::string scheme = "FlyV1 ";
    EXPECT_EQ(header.rfind(scheme, 0), 0u);
    std::vector<std::string> out;
    std::string rest = header.substr(scheme.size());
    std::size_t start = 0;
    while (start <= rest.size()) {
        std::size_t comma = rest.find(',', start);
        if (comma == std::string::npos) comma = rest.size();
        std::string text = rest.substr(start, comma - start);
        EXPECT_EQ(text.rfind("fm2_", 0), 0u) << text;
        auto bytes = base64_decode(text.substr(4));
        EXPECT_TRUE(bytes.ok()) << text;
        if (bytes.ok()) out.push_back(*bytes);
        start = comma + 1;
    }
    return out;
}

// The library's parser picks the permission token by location; so does this.
std::string token_at_location(const std::string& header) {
    for (const auto& wire : fly_tokens(header)) {
        auto m = decode_macaroon(wire);
        EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
        if (m.ok() && m->location == reference()["location"]) return wire;
    }
    ADD_FAILURE() << "no token for the location in " << header;
    return {};
}

bool is_attestation(const std::string& name) {
    return name == "FlyioUserID" || name == "GitHubUserID" || name == "GoogleUserID";
}

TEST(SuperflyReference, MacaroonsReencodeAndVerify) {
    const std::string key = b64(reference()["key"]);
    ASSERT_EQ(key.size(), 32u);
    std::size_t verified = 0;
    for (const auto& [name, header] : reference()["macaroons"].items()) {
        SCOPED_TRACE(name);
        const auto tokens = fly_tokens(header);
        ASSERT_EQ(tokens.size(), 1u);
        auto m = decode_macaroon(tokens[0]);
        ASSERT_TRUE(m.ok()) << m.error().message;
        EXPECT_EQ(hex_encode(encode_macaroon(*m)), hex_encode(tokens[0]));
        EXPECT_EQ(m->location, reference()["location"]);
        if (is_attestation(name)) {
            EXPECT_TRUE(m->nonce.proof);  // discharge made with an unpublished key
            continue;
        }
        EXPECT_EQ(m->nonce.kid, b64(reference()["kid"]));
        auto result = verify_macaroon(key, *m, {});
        if (name == "BindToParentToken") {
            ASSERT_FALSE(result.ok());  // a binding caveat in a main token always fails
            EXPECT_NE(result.error().message.find("bound to different parent"), std::string::npos);
        } else {
            EXPECT_TRUE(result.ok()) << result.error().message;
            ++verified;
        }
        EXPECT_FALSE(verify_macaroon(std::string(32, 'x'), *m, {}).ok());
    }
    EXPECT_EQ(verified, 17u);
}

TEST(SuperflyReference, CaveatSetsReencode) {
    for (const auto& [name, value] : reference()["caveats"].items()) {
        SCOPED_TRACE(name);
        const std::string wire = b64(value);
        auto caveats = decode_caveat_set(wire);
        ASSERT_TRUE(caveats.ok()) << caveats.error().message;
        ASSERT_EQ(caveats->size(), 1u);
        EXPECT_EQ(hex_encode(encode_caveat_set(*caveats)), hex_encode(wire));
        EXPECT_EQ(hex_encode(encode_caveat_hmac_input((*caveats)[0])), hex_encode(wire));
    }
}

TEST(SuperflyReference, KnownTypesDecodeTyped) {
    auto bind = decode_caveat_set(b64(reference()["caveats"]["BindToParentToken"]));
    ASSERT_TRUE(bind.ok());
    ASSERT_TRUE(std::holds_alternative<BindToParent>((*bind)[0]));
    EXPECT_EQ(std::get<BindToParent>((*bind)[0]).binding_id, std::string("\x01\x02\x03"));
    auto big = decode_caveat_set(b64(reference()["caveats"]["bigUint64Caveat"]));
    ASSERT_TRUE(big.ok());
    ASSERT_TRUE(std::holds_alternative<UnknownCaveat>((*big)[0]));
}

TEST(SuperflyReference, AttenuationIsByteIdentical) {
    const std::string key = b64(reference()["key"]);
    std::size_t entries = 0;
    for (const auto& [base_header, additions] : reference()["attenuation"].items()) {
        const std::string base_wire = token_at_location(base_header);
        for (const auto& [caveats_b64, attenuated_header] : additions.items()) {
            SCOPED_TRACE(caveats_b64);
            auto base = decode_macaroon(base_wire);
            ASSERT_TRUE(base.ok());
            auto caveats = decode_caveat_set(*base64_decode(caveats_b64));
            ASSERT_TRUE(caveats.ok()) << caveats.error().message;
            ASSERT_TRUE(attenuate(*base, *caveats).ok());
            const std::string expected = token_at_location(attenuated_header);
            EXPECT_EQ(hex_encode(encode_macaroon(*base)), hex_encode(expected));
            const bool has_binding =
                !caveats->empty() && std::holds_alternative<BindToParent>((*caveats)[0]);
            EXPECT_EQ(verify_macaroon(key, *base, {}).ok(), !has_binding);
            ++entries;
        }
    }
    EXPECT_EQ(entries, 19u);
}

TEST(SuperflyReference, WithTpsNeedsEveryDischarge) {
    const std::string key = b64(reference()["key"]);
    const auto tokens = fly_tokens(reference()["with_tps"]);
    ASSERT_EQ(tokens.size(), 2u);
    auto perm = decode_macaroon(tokens[0]);
    auto discharge = decode_macaroon(tokens[1]);
    ASSERT_TRUE(perm.ok()) << perm.error().message;
    ASSERT_TRUE(discharge.ok()) << discharge.error().message;
    EXPECT_EQ(hex_encode(encode_macaroon(*discharge)), hex_encode(tokens[1]));
    EXPECT_TRUE(discharge->nonce.proof);
    std::size_t third_parties = 0;
    for (const auto& c : perm->caveats) third_parties += std::holds_alternative<ThirdParty>(c);
    EXPECT_EQ(third_parties, 2u);
    auto result = verify_macaroon(key, *perm, {*discharge});
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().message, "no matching discharge token");

    // Acting as the third party for "undischarged" completes the set.
    const auto* missing = [&]() -> const ThirdParty* {
        for (const auto& c : perm->caveats) {
            const auto* tp = std::get_if<ThirdParty>(&c);
            if (tp != nullptr && tp->location == "undischarged") return tp;
        }
        return nullptr;
    }();
    ASSERT_NE(missing, nullptr);
    auto second = make_discharge(b64(reference()["tp_key"]), missing->ticket, "undischarged", {});
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_TRUE(verify_macaroon(key, *perm, {*discharge, *second}).ok());
    EXPECT_FALSE(verify_macaroon(std::string(32, 'k'), *perm, {*discharge, *second}).ok());
}

}  // namespace
}  // namespace cloakroom::token
