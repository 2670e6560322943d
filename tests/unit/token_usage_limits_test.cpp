// The Limits caveat (token::UsageLimits): wire bytes, decoding, evaluation (never a denial),
// usage_limits(), inspect output, and its enforcement by the limiter (runtime/rate_limit.hpp):
// per token id, shared by every token of a family that carries the same caveat, a tighter
// caveat of an attenuated token counting on its own, on top of the configured limits.
#include <gtest/gtest.h>

#include <string>

#include "runtime/rate_limit.hpp"
#include "token/evaluate.hpp"
#include "token/inspect.hpp"
#include "token/macaroon.hpp"
#include "token/token.hpp"
#include "util/hex.hpp"

namespace cloakroom {
namespace {

using namespace std::chrono_literals;
using runtime::Limiter;
using runtime::LimitRefusal;
using token::Caveat;
using token::UsageLimits;
using Permit = std::unique_ptr<Limiter::Permit>;

const token::TokenFormat kFormat;
constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

UsageLimits limits(std::uint64_t rate_count, std::uint64_t period, std::uint64_t concurrency,
                   std::uint64_t budget) {
    return UsageLimits{rate_count, period, concurrency, budget};
}

std::string decode_error(const std::string& hex) {
    auto decoded = token::decode_caveat_set(*hex_decode(hex));
    EXPECT_FALSE(decoded.ok());
    return decoded.ok() ? std::string() : decoded.error().message;
}

TEST(TokenUsageLimits, TypeNumberNameAndExactBytes) {
    EXPECT_EQ(token::kTypeUsageLimits, 0x1434C0005u);
    EXPECT_EQ(token::caveat_type(Caveat(UsageLimits{})), token::kTypeUsageLimits);
    EXPECT_EQ(token::caveat_type_name(token::kTypeUsageLimits), "Limits");
    // [type, [10, 1, 0, 500]]: 500 needs a uint16.
    EXPECT_EQ(hex_encode(token::encode_caveat_set({limits(10, 1, 0, 500)})),
              "92cf00000001434c0005"
              "940a0100cd01f4");
}

TEST(TokenUsageLimits, DecodeRoundTripAndErrors) {
    const std::vector<Caveat> caveats = {limits(600, 60, 2, 0), limits(0, 0, 0, 7)};
    auto decoded = token::decode_caveat_set(token::encode_caveat_set(caveats));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, caveats);
    EXPECT_EQ(decode_error("92cf00000001434c0005930a0100"),
              "decode: caveat 1: Limits body must be an array of 4 elements, got array of 3");
    EXPECT_EQ(
        decode_error("92cf00000001434c0005940aff0000"),
        "decode: caveat 1: Limits rate period must be an unsigned integer, got negative integer");
    EXPECT_EQ(decode_error("92cf00000001434c0005940a000000"),
              "decode: caveat 1: Limits rate needs both a count and a period (or neither)");
    EXPECT_EQ(decode_error("92cf00000001434c000594000a0000"),
              "decode: caveat 1: Limits rate needs both a count and a period (or neither)");
}

TEST(TokenUsageLimits, NeverDeniesAccessAndSurvivesAttenuation) {
    token::KeyStore keys;
    ASSERT_TRUE(keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
    auto parent = token::mint_token(keys, "primary", {limits(10, 1, 0, 0)}, kFormat);
    ASSERT_TRUE(parent.ok());
    auto child = token::attenuate_token(*parent, {limits(1, 1, 0, 3)}, kFormat);
    ASSERT_TRUE(child.ok()) << child.error().message;
    const token::AccessRequest http{"api.stripe.com", "GET", "/v1/charges", kNow};
    const token::DbAccessRequest db{"app", "ro", "shop", "postgres", kNow};
    const auto verified = token::verify_token(*child, http, keys, kFormat);
    ASSERT_TRUE(verified.ok()) << verified.reason;
    EXPECT_TRUE(token::verify_token(*child, db, keys, kFormat).ok());
    EXPECT_EQ(token::usage_limits(verified.caveats),
              (std::vector<UsageLimits>{limits(10, 1, 0, 0), limits(1, 1, 0, 3)}));
}

TEST(TokenUsageLimits, UsageLimitsDropsRepeatsAndEmptyCaveats) {
    const std::vector<Caveat> caveats = {limits(5, 1, 0, 0), token::methods_caveat({"GET"}),
                                         limits(0, 0, 0, 0), limits(5, 1, 0, 0),
                                         limits(0, 0, 2, 0)};
    EXPECT_EQ(token::usage_limits(caveats),
              (std::vector<UsageLimits>{limits(5, 1, 0, 0), limits(0, 0, 2, 0)}));
}

TEST(TokenUsageLimits, InspectShowsTheLimits) {
    const auto json = token::caveat_json(Caveat(limits(600, 60, 2, 100)));
    EXPECT_EQ(json["name"], "Limits");
    EXPECT_EQ(json["body"]["rate"], "600/60s");
    EXPECT_EQ(json["body"]["concurrency"], 2);
    EXPECT_EQ(json["body"]["budget"], 100);
}

// ---- enforcement ----

struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    runtime::LimitClock clock() {
        return [this] { return now; };
    }
};

bool admitted(const std::variant<Permit, LimitRefusal>& result) {
    return std::holds_alternative<Permit>(result);
}

TEST(TokenUsageLimits, RateCaveatIsEnforcedPerTokenIdAcrossServices) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    const config::Limits none;
    const std::vector<UsageLimits> caveat = {limits(2, 1, 0, 0)};
    // One allowance for the token id, whichever service the requests go to.
    EXPECT_TRUE(admitted(limiter->admit("stripe", nullptr, none, "tok1", caveat)));
    EXPECT_TRUE(admitted(limiter->admit("github", nullptr, none, "tok1", caveat)));
    auto over = limiter->admit("stripe", nullptr, none, "tok1", caveat);
    ASSERT_FALSE(admitted(over));
    const auto& refused = std::get<LimitRefusal>(over);
    EXPECT_EQ(refused.kind, runtime::LimitKind::Rate);
    EXPECT_EQ(refused.scope, runtime::LimitScope::Token);
    EXPECT_EQ(refused.retry_after, 1u);
    EXPECT_EQ(refused.reason,
              "rate limit of 2/s of the token (its Limits caveat) reached; retry "
              "in 1 s");
    // Another token id has its own allowance; a second later the bucket has refilled.
    EXPECT_TRUE(admitted(limiter->admit("stripe", nullptr, none, "tok2", caveat)));
    time.now += 1s;
    EXPECT_TRUE(admitted(limiter->admit("stripe", nullptr, none, "tok1", caveat)));
}

TEST(TokenUsageLimits, BudgetIsSharedByTheFamilyAndATighterChildCountsOnItsOwn) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    const config::Limits none;
    const std::vector<UsageLimits> parent = {limits(0, 0, 0, 3)};
    const std::vector<UsageLimits> child = {limits(0, 0, 0, 3), limits(0, 0, 0, 1)};
    EXPECT_TRUE(admitted(limiter->admit("s", nullptr, none, "id", child)));
    // The child's own budget of 1 is spent; the family's budget of 3 has 2 left.
    auto spent = limiter->admit("s", nullptr, none, "id", child);
    ASSERT_FALSE(admitted(spent));
    EXPECT_EQ(std::get<LimitRefusal>(spent).kind, runtime::LimitKind::Budget);
    EXPECT_TRUE(admitted(limiter->admit("s", nullptr, none, "id", parent)));
    EXPECT_TRUE(admitted(limiter->admit("s", nullptr, none, "id", parent)));
    // The child's request counted against the parent's budget: attenuating gives no fresh
    // allowance.
    EXPECT_FALSE(admitted(limiter->admit("s", nullptr, none, "id", parent)));
}

TEST(TokenUsageLimits, ConcurrencyCaveatHoldsUntilThePermitEnds) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    const config::Limits none;
    const std::vector<UsageLimits> caveat = {limits(0, 0, 1, 0)};
    auto first = limiter->admit("s", nullptr, none, "id", caveat);
    ASSERT_TRUE(admitted(first));
    auto second = limiter->admit("s", nullptr, none, "id", caveat);
    ASSERT_FALSE(admitted(second));
    EXPECT_EQ(std::get<LimitRefusal>(second).kind, runtime::LimitKind::Concurrency);
    std::get<Permit>(first).reset();
    EXPECT_TRUE(admitted(limiter->admit("s", nullptr, none, "id", caveat)));
}

TEST(TokenUsageLimits, ConfiguredLimitsStillApplyAndNothingIsTakenOnARefusal) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits service;
    service.token_budget = 1;
    const config::Limits none;
    const std::vector<UsageLimits> caveat = {limits(0, 0, 0, 5)};
    EXPECT_TRUE(admitted(limiter->admit("s", &service, none, "id", caveat)));
    // The service's budget refuses; the caveat's budget is not charged for the refusal.
    for (int i = 0; i < 10; ++i)
        EXPECT_FALSE(admitted(limiter->admit("s", &service, none, "id", caveat)));
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(admitted(limiter->admit("t", nullptr, none, "id", caveat))) << i;
    EXPECT_FALSE(admitted(limiter->admit("t", nullptr, none, "id", caveat)));
}

TEST(TokenUsageLimits, IgnoredWithoutATokenId) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    const config::Limits none;
    const std::vector<UsageLimits> caveat = {limits(0, 0, 0, 1)};
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(admitted(limiter->admit("s", nullptr, none, "", caveat)));
    EXPECT_EQ(limiter->entries(), 0u);
}

}  // namespace
}  // namespace cloakroom
