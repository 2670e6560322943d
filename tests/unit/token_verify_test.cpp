// Mint / attenuate / verify / inspect through the facade, plus every failure stage.
#include <gtest/gtest.h>

#include <string>

#include "token/chain.hpp"
#include "token/crypto.hpp"
#include "token/third_party.hpp"
#include "token/token.hpp"
#include "util/base64.hpp"

namespace cloakroom::token {
namespace {

const TokenFormat kFormat;                 // acm_, location "cloakroom"
constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

KeyStore keys_with(std::string_view kid, char fill) {
    KeyStore keys;
    EXPECT_TRUE(keys.add(kid, secrets::SecretValue(std::string(32, fill))).ok());
    return keys;
}

AccessRequest get(std::string path = "/v1/charges", std::string host = "api.stripe.com") {
    return AccessRequest{std::move(host), "GET", std::move(path), kNow};
}

std::string mint(const KeyStore& keys, const std::vector<Caveat>& caveats,
                 std::string_view kid = "primary") {
    auto token = mint_token(keys, kid, caveats, kFormat);
    EXPECT_TRUE(token.ok()) << token.error().message;
    return token.ok() ? *token : std::string();
}

Caveat paths(std::vector<std::string> patterns) {
    auto c = paths_caveat(std::move(patterns));
    EXPECT_TRUE(c.ok());
    return *c;
}

TEST(TokenVerify, MintedTokenVerifies) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string token =
        mint(keys, {hosts_caveat({"api.stripe.com"}), methods_caveat({"GET"}), paths({"/v1/**"}),
                    validity_caveat(kNow - 10, kNow + 10)});
    EXPECT_EQ(token.rfind("acm_", 0), 0u);
    const VerifyOutcome out = verify_token(token, get(), keys, kFormat);
    EXPECT_TRUE(out.ok()) << out.reason;
    EXPECT_EQ(stage_name(out.stage), "ok");
    EXPECT_EQ(out.token_id.size(), 32u);
    EXPECT_EQ(out.key_id, "primary");
    EXPECT_EQ(out.caveats.size(), 4u);
    EXPECT_TRUE(verify_token("Bearer " + token, get(), keys, kFormat).ok());
    auto decoded = decode_token(token, kFormat);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->location, "cloakroom");
    EXPECT_EQ(encode_token(*decoded, kFormat), token);
}

TEST(TokenVerify, StagesOfFailure) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string token = mint(keys, {validity_caveat(kNow - 10, kNow + 10)});
    auto stage_of = [&](std::string_view header, AccessRequest request) {
        return stage_name(verify_token(header, request, keys, kFormat).stage);
    };
    EXPECT_EQ(stage_of(token, {"", "GET", "/", kNow}), "access");
    EXPECT_EQ(stage_of(token, {"h", "", "/", kNow}), "access");
    EXPECT_EQ(stage_of(token, {"h", "GET", "", kNow}), "access");
    EXPECT_EQ(stage_of("", get()), "header");
    EXPECT_EQ(stage_of("Basic abc", get()), "header");
    EXPECT_EQ(stage_of(token + "x", get()), "decode");
    EXPECT_EQ(stage_of(token + ",acm_AAAA", get()), "decode");
    EXPECT_EQ(stage_of(token, {"h", "GET", "/", kNow + 11}), "caveats");
    EXPECT_EQ(stage_of(token, {"h", "GET", "/", kNow + 10}), "ok");  // inclusive
    EXPECT_EQ(stage_of(token, {"h", "GET", "/", kNow - 10}), "ok");
    EXPECT_EQ(stage_of(token, {"h", "GET", "/", kNow - 11}), "caveats");
}

TEST(TokenVerify, ExpiredAndNotYetValidReasons) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string token = mint(keys, {validity_caveat(1735689600, 1735693200)});
    auto late = verify_token(token, {"h", "GET", "/", 1735693201}, keys, kFormat);
    EXPECT_EQ(late.reason, "caveat validation failed: token only valid until 2025-01-01T01:00:00Z");
    auto early = verify_token(token, {"h", "GET", "/", 1735689599}, keys, kFormat);
    EXPECT_EQ(early.reason, "caveat validation failed: token not valid until 2025-01-01T00:00:00Z");
}

TEST(TokenVerify, WrongKeyAndUnknownKeyId) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string token = mint(keys, {});
    const KeyStore other = keys_with("primary", 'b');
    auto wrong = verify_token(token, get(), other, kFormat);
    EXPECT_EQ(wrong.stage, Stage::Signature);
    EXPECT_EQ(wrong.reason, "signature verification failed: invalid signature");
    EXPECT_EQ(wrong.reason.find(std::string(32, 'a')), std::string::npos);

    const KeyStore unrelated = keys_with("x", 'a');
    auto unknown = verify_token(token, get(), unrelated, kFormat);
    EXPECT_EQ(unknown.stage, Stage::Signature);
    EXPECT_EQ(unknown.reason, "unknown key id 'primary'");
    EXPECT_FALSE(unknown.token_id.empty());  // still useful in the audit log

    EXPECT_FALSE(mint_token(keys, "nope", {}, kFormat).ok());
}

TEST(TokenVerify, KeyRotation) {
    KeyStore keys = keys_with("2025", 'a');
    const std::string old_token = mint(keys, {}, "2025");
    ASSERT_TRUE(keys.add("2026", secrets::SecretValue(std::string(32, 'b'))).ok());
    const std::string new_token = mint(keys, {}, "2026");
    EXPECT_TRUE(verify_token(old_token, get(), keys, kFormat).ok());
    EXPECT_TRUE(verify_token(new_token, get(), keys, kFormat).ok());
    EXPECT_TRUE(keys.remove("2025"));
    auto retired = verify_token(old_token, get(), keys, kFormat);
    EXPECT_EQ(retired.stage, Stage::Signature);
    EXPECT_EQ(retired.reason, "unknown key id '2025'");
    EXPECT_TRUE(verify_token(new_token, get(), keys, kFormat).ok());
}

TEST(TokenVerify, AttenuationNarrowsAndCannotWiden) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string token = mint(keys, {hosts_caveat({"api.stripe.com", "api.github.com"})});
    auto narrowed = attenuate_token(token, {hosts_caveat({"api.github.com"})}, kFormat);
    ASSERT_TRUE(narrowed.ok()) << narrowed.error().message;
    EXPECT_TRUE(verify_token(token, get(), keys, kFormat).ok());
    auto denied = verify_token(*narrowed, get(), keys, kFormat);
    EXPECT_EQ(denied.stage, Stage::Caveats);
    EXPECT_TRUE(verify_token(*narrowed, get("/", "api.github.com"), keys, kFormat).ok());

    // "Widening" just adds another restriction: every host caveat must allow the request.
    auto widened = attenuate_token(*narrowed, {hosts_caveat({"evil.example"})}, kFormat);
    ASSERT_TRUE(widened.ok());
    EXPECT_EQ(verify_token(*widened, get("/", "evil.example"), keys, kFormat).stage,
              Stage::Caveats);
    EXPECT_EQ(verify_token(*widened, get("/", "api.github.com"), keys, kFormat).stage,
              Stage::Caveats);

    // Dropping the last caveat of an attenuated token breaks the signature.
    auto decoded = decode_token(*narrowed, kFormat);
    ASSERT_TRUE(decoded.ok());
    decoded->caveats.pop_back();
    EXPECT_EQ(verify_token(encode_token(*decoded, kFormat), get(), keys, kFormat).stage,
              Stage::Signature);

    // Byte-identical caveats are skipped, like the library does.
    auto same = attenuate_token(*narrowed, {hosts_caveat({"api.github.com"})}, kFormat);
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(*same, *narrowed);
    EXPECT_FALSE(attenuate_token("garbage", {}, kFormat).ok());
}

TEST(TokenVerify, CaveatSemantics) {
    const KeyStore keys = keys_with("primary", 'a');
    auto check = [&](const std::vector<Caveat>& caveats, AccessRequest request) {
        return verify_token(mint(keys, caveats), request, keys, kFormat);
    };
    // Hosts: case-insensitive, no port stripping.
    EXPECT_TRUE(check({hosts_caveat({"API.Stripe.com"})}, get("/", "api.stripe.COM")).ok());
    EXPECT_FALSE(check({hosts_caveat({"api.stripe.com"})}, get("/", "api.stripe.com:443")).ok());
    // Nil and empty lists forbid everything.
    EXPECT_FALSE(check({Hosts{std::nullopt}}, get()).ok());
    EXPECT_FALSE(check({Hosts{std::vector<std::string>{}}}, get()).ok());
    // Methods: upper-cased on both sides.
    EXPECT_TRUE(check({methods_caveat({"get"})}, {"h", "Get", "/", kNow}).ok());
    // Paths: normalized, query ignored.
    EXPECT_TRUE(check({paths({"/v1/*"})}, get("/v1/x?y=1")).ok());
    EXPECT_TRUE(check({paths({"/v1/*"})}, get("/v1/./x")).ok());
    auto escaped = check({paths({"/v1/**"})}, get("/v1/../admin"));
    EXPECT_EQ(escaped.stage, Stage::Caveats);
    EXPECT_NE(escaped.reason.find("\"/admin\""), std::string::npos) << escaped.reason;
    auto encoded_slash = check({paths({"/v1/*"})}, get("/v1/a%2Fb"));
    EXPECT_EQ(encoded_slash.stage, Stage::Caveats);
    EXPECT_NE(encoded_slash.reason.find("cannot be checked"), std::string::npos)
        << encoded_slash.reason;
    // Unknown caveat types fail closed; all denials are reported in order.
    auto many = check({UnknownCaveat{(std::uint64_t{1} << 48) + 42, "\xc0"}, hosts_caveat({"a"}),
                       methods_caveat({"POST"})},
                      get());
    EXPECT_EQ(many.stage, Stage::Caveats);
    EXPECT_EQ(many.reason,
              "caveat validation failed: bad caveat Unregistered (type 0x100000000002a); host "
              "\"api.stripe.com\" not in allowed list [\"a\"]; method \"GET\" not in allowed list "
              "[\"POST\"]");
    // Hostile bytes are escaped in reasons.
    auto hostile = check({hosts_caveat({"a"})}, get("/", "x\r\nInjected: 1"));
    EXPECT_EQ(hostile.reason.find('\n'), std::string::npos);
    EXPECT_FALSE(paths_caveat({"no-slash"}).ok());
    EXPECT_FALSE(paths_caveat({""}).ok());
}

TEST(TokenVerify, ThirdPartyDischargeRoundTrip) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string tp_key(32, 't');
    auto main = decode_token(mint(keys, {hosts_caveat({"api.stripe.com"})}), kFormat);
    ASSERT_TRUE(main.ok());
    ASSERT_TRUE(
        add_third_party_caveat(*main, tp_key, "yubikey-local", {Attestation{"bm9uY2U="}}).ok());
    EXPECT_FALSE(add_third_party_caveat(*main, tp_key, "yubikey-local", {}).ok());
    const std::string main_text = encode_token(*main, kFormat);

    auto missing = verify_token(main_text, get(), keys, kFormat);
    EXPECT_EQ(missing.stage, Stage::Signature);
    EXPECT_EQ(missing.reason, "signature verification failed: no matching discharge token");

    const auto& tp = std::get<ThirdParty>(main->caveats.back());
    auto ticket = open_ticket(tp_key, tp.ticket);
    ASSERT_TRUE(ticket.ok());
    ASSERT_EQ(ticket->caveats.size(), 1u);
    EXPECT_EQ(std::get<Attestation>(ticket->caveats[0]).nonce, "bm9uY2U=");

    auto discharge = make_discharge(tp_key, tp.ticket, "yubikey-local",
                                    {validity_caveat(kNow, kNow + 3600), methods_caveat({"GET"})});
    ASSERT_TRUE(discharge.ok());
    EXPECT_TRUE(discharge->nonce.proof);
    const std::string header = main_text + "," + encode_token(*discharge, kFormat);
    EXPECT_TRUE(verify_token(header, get(), keys, kFormat).ok());
    // Discharge caveats are enforced.
    EXPECT_EQ(verify_token(header, {"api.stripe.com", "POST", "/", kNow}, keys, kFormat).stage,
              Stage::Caveats);
    EXPECT_EQ(
        verify_token(header, {"api.stripe.com", "GET", "/", kNow + 3601}, keys, kFormat).stage,
        Stage::Caveats);
    // A proof token cannot be attenuated.
    EXPECT_FALSE(attenuate(*discharge, {hosts_caveat({"x"})}).ok());
    // Attenuating "main,discharge" keeps the discharge and stays valid.
    auto narrowed = attenuate_token("Bearer " + header, {paths({"/v1/**"})}, kFormat);
    ASSERT_TRUE(narrowed.ok());
    EXPECT_EQ(narrowed->rfind("acm_", 0), 0u);
    EXPECT_TRUE(verify_token(*narrowed, get(), keys, kFormat).ok());
    EXPECT_EQ(verify_token(*narrowed, get("/v2"), keys, kFormat).stage, Stage::Caveats);
    // A tampered discharge fails the signature stage.
    Macaroon tampered = *discharge;
    tampered.tail[0] = static_cast<char>(tampered.tail[0] ^ 1);
    EXPECT_EQ(
        verify_token(main_text + "," + encode_token(tampered, kFormat), get(), keys, kFormat).stage,
        Stage::Signature);
    // A discharge opened with the wrong third-party key cannot be made.
    EXPECT_FALSE(make_discharge(std::string(32, 'u'), tp.ticket, "yubikey-local", {}).ok());
}

TEST(TokenVerify, BoundDischargeSurvivesAttenuation) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string tp_key(32, 't');
    auto main = decode_token(mint(keys, {}), kFormat);
    ASSERT_TRUE(add_third_party_caveat(*main, tp_key, "tp", {}).ok());
    const auto ticket = std::get<ThirdParty>(main->caveats.back()).ticket;
    auto bound = make_discharge(tp_key, ticket, "tp", {binding_for(*main)});
    ASSERT_TRUE(bound.ok());
    const std::string discharge_text = encode_token(*bound, kFormat);
    EXPECT_TRUE(
        verify_token(encode_token(*main, kFormat) + "," + discharge_text, get(), keys, kFormat)
            .ok());
    ASSERT_TRUE(attenuate(*main, {hosts_caveat({"api.stripe.com"})}).ok());
    EXPECT_TRUE(
        verify_token(encode_token(*main, kFormat) + "," + discharge_text, get(), keys, kFormat)
            .ok());
    auto other_parent = make_discharge(tp_key, ticket, "tp", {BindToParent{std::string(16, 'x')}});
    auto rejected =
        verify_token(encode_token(*main, kFormat) + "," + encode_token(*other_parent, kFormat),
                     get(), keys, kFormat);
    EXPECT_EQ(rejected.stage, Stage::Signature);
    EXPECT_NE(rejected.reason.find("bound to different parent"), std::string::npos);
}

TEST(TokenInspect, ReadableJson) {
    const KeyStore keys = keys_with("primary", 'a');
    const std::string token =
        mint(keys, {validity_caveat(1704067200, 4102444800), hosts_caveat({"api.stripe.com"})});
    auto json = inspect_token("Bearer " + token, kFormat);
    ASSERT_TRUE(json.ok()) << json.error().message;
    EXPECT_EQ((*json)["location"], "cloakroom");
    EXPECT_EQ((*json)["key_id"], "primary");
    EXPECT_EQ((*json)["proof"], false);
    EXPECT_EQ((*json)["token_id"].get<std::string>().size(), 32u);
    ASSERT_EQ((*json)["caveats"].size(), 2u);
    EXPECT_EQ((*json)["caveats"][0]["name"], "ValidityWindow");
    EXPECT_EQ((*json)["caveats"][0]["body"]["not_before_utc"], "2024-01-01T00:00:00Z");
    EXPECT_EQ((*json)["caveats"][0]["body"]["not_after_utc"], "2100-01-01T00:00:00Z");
    EXPECT_EQ((*json)["caveats"][1]["body"]["hosts"][0], "api.stripe.com");
    EXPECT_TRUE((*json)["discharges"].empty());
    EXPECT_NO_THROW((void)json->dump());
    EXPECT_EQ(json->dump().find(std::string(32, 'a')), std::string::npos);

    // Invalid UTF-8 from a token still dumps.
    auto raw = decode_token(token, kFormat);
    raw->location = "\xff\xfe";
    auto odd = inspect_token(encode_token(*raw, kFormat), kFormat);
    ASSERT_TRUE(odd.ok());
    EXPECT_NO_THROW((void)odd->dump());
    EXPECT_FALSE(inspect_token("acm_!", kFormat).ok());
}

}  // namespace
}  // namespace cloakroom::token
