// Rate limits, concurrency limits and budgets with an injected clock (runtime/rate_limit.hpp).
#include <gtest/gtest.h>

#include "config/load_state.hpp"
#include "runtime/rate_limit.hpp"

namespace cloakroom::runtime {
namespace {

using namespace std::chrono_literals;
using Permit = std::unique_ptr<Limiter::Permit>;

config::Rate rate(std::uint64_t count, std::chrono::seconds period = 1s) {
    config::Rate out;
    out.count = count;
    out.period = period;
    out.text = std::to_string(count) + "/" + (period == 1s ? "s" : "min");
    return out;
}

struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    LimitClock clock() {
        return [this] { return now; };
    }
};

bool admitted(const std::variant<Permit, LimitRefusal>& result) {
    return std::holds_alternative<Permit>(result);
}

const LimitRefusal& refusal(const std::variant<Permit, LimitRefusal>& result) {
    return std::get<LimitRefusal>(result);
}

TEST(RuntimeRateLimit, TokenBucketAllowsABurstThenRefillsAtTheRate) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.token_rate = rate(3);
    const config::Limits global;
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(admitted(limiter->admit("stripe", &limits, global, "tok1"))) << i;
    }
    auto over = limiter->admit("stripe", &limits, global, "tok1");
    ASSERT_FALSE(admitted(over));
    EXPECT_EQ(refusal(over).kind, LimitKind::Rate);
    EXPECT_EQ(refusal(over).scope, LimitScope::Token);
    EXPECT_EQ(refusal(over).retry_after, 1u);
    EXPECT_NE(refusal(over).reason.find("3/s per token on service \"stripe\""), std::string::npos)
        << refusal(over).reason;
    EXPECT_EQ(refusal(over).reason.find("tok1"), std::string::npos);  // never the token id
    // A third of a second gives one token back (3/s), not two.
    time.now += 340ms;
    EXPECT_TRUE(admitted(limiter->admit("stripe", &limits, global, "tok1")));
    EXPECT_FALSE(admitted(limiter->admit("stripe", &limits, global, "tok1")));
    // A long pause refills to the burst size only.
    time.now += 1h;
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(admitted(limiter->admit("stripe", &limits, global, "tok1")));
    EXPECT_FALSE(admitted(limiter->admit("stripe", &limits, global, "tok1")));
}

TEST(RuntimeRateLimit, RetryAfterIsTheWaitForTheNextToken) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.token_rate = rate(2, 60s);  // one every 30 s
    const config::Limits global;
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "t")));
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "t")));
    auto over = limiter->admit("s", &limits, global, "t");
    ASSERT_FALSE(admitted(over));
    EXPECT_EQ(refusal(over).retry_after, 30u);
    time.now += 10s;
    EXPECT_EQ(refusal(limiter->admit("s", &limits, global, "t")).retry_after, 20u);
}

TEST(RuntimeRateLimit, EachTokenIdHasItsOwnBucketAndTheServiceOneForAll) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.token_rate = rate(1);
    limits.rate = rate(3);
    const config::Limits global;
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "a")));
    EXPECT_FALSE(admitted(limiter->admit("s", &limits, global, "a")));
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "b")));
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "c")));
    auto service_full = limiter->admit("s", &limits, global, "d");
    ASSERT_FALSE(admitted(service_full));
    EXPECT_EQ(refusal(service_full).scope, LimitScope::Service);
    // Another service is not affected.
    EXPECT_TRUE(admitted(limiter->admit("other", &limits, global, "d")));
}

TEST(RuntimeRateLimit, ARefusalTakesNothingFromTheOtherScopes) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.rate = rate(2);        // the service
    limits.token_rate = rate(1);  // each token
    const config::Limits global;
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "a")));
    // "a" is refused by its own bucket: the service's second token must stay for "b".
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(admitted(limiter->admit("s", &limits, global, "a")));
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "b")));
}

TEST(RuntimeRateLimit, ConcurrencyIsHeldByThePermitUntilItEnds) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.token_concurrency = 2;
    const config::Limits global;
    auto first = limiter->admit("s", &limits, global, "t");
    auto second = limiter->admit("s", &limits, global, "t");
    ASSERT_TRUE(admitted(first));
    ASSERT_TRUE(admitted(second));
    auto third = limiter->admit("s", &limits, global, "t");
    ASSERT_FALSE(admitted(third));
    EXPECT_EQ(refusal(third).kind, LimitKind::Concurrency);
    EXPECT_EQ(refusal(third).retry_after, 1u);
    std::get<Permit>(first).reset();  // one request ended
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "t")));
}

TEST(RuntimeRateLimit, APermitReleasesEverySlotItHoldsAndOnlyThose) {
    // One permit holds a slot in each scope with a concurrency limit (the gateway, the gateway
    // per token, the service, the service per token: keys of every length, token ids of 32 hex
    // digits as in the gateway); ending it frees them all, and another token's slots stay held.
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.concurrency = 2;
    limits.token_concurrency = 1;
    config::Limits global;
    global.concurrency = 2;
    global.token_concurrency = 1;
    const std::string one(32, 'a');
    const std::string two = std::string(31, 'b') + "c";
    auto first = limiter->admit("a-service-with-a-long-name", &limits, global, one);
    ASSERT_TRUE(admitted(first));
    auto other = limiter->admit("a-service-with-a-long-name", &limits, global, two);
    ASSERT_TRUE(admitted(other));
    // The service and the gateway are full (2 of 2), and each token's own slot too.
    for (const auto& id : {one, two, std::string(32, 'd')}) {
        EXPECT_FALSE(admitted(limiter->admit("a-service-with-a-long-name", &limits, global, id)));
    }
    std::get<Permit>(first).reset();
    // `one`'s request ended: its four slots are free, `two`'s are still held.
    EXPECT_FALSE(admitted(limiter->admit("a-service-with-a-long-name", &limits, global, two)));
    auto again = limiter->admit("a-service-with-a-long-name", &limits, global, one);
    EXPECT_TRUE(admitted(again));
    EXPECT_FALSE(admitted(limiter->admit("a-service-with-a-long-name", &limits, global, one)));
    std::get<Permit>(again).reset();
    std::get<Permit>(other).reset();
    // Everything free: two at once again, of any tokens.
    auto x = limiter->admit("a-service-with-a-long-name", &limits, global, std::string(32, 'd'));
    auto y = limiter->admit("a-service-with-a-long-name", &limits, global, std::string(32, 'e'));
    EXPECT_TRUE(admitted(x));
    EXPECT_TRUE(admitted(y));
}

TEST(RuntimeRateLimit, ABudgetIsSpentForGoodAndCountsOnlyAdmittedRequests) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.token_budget = 3;
    limits.rate = rate(100);
    const config::Limits global;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "t")));
    auto spent = limiter->admit("s", &limits, global, "t");
    ASSERT_FALSE(admitted(spent));
    EXPECT_EQ(refusal(spent).kind, LimitKind::Budget);
    EXPECT_EQ(refusal(spent).retry_after, 0u);  // no waiting renews it
    time.now += 24h;
    EXPECT_FALSE(admitted(limiter->admit("s", &limits, global, "t")));
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "u")));  // per token id
}

TEST(RuntimeRateLimit, GlobalLimitsApplyAcrossServicesAndToRequestsWithoutAToken) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits global;
    global.rate = rate(2);
    EXPECT_TRUE(admitted(limiter->admit("a", nullptr, global, "")));
    EXPECT_TRUE(admitted(limiter->admit("b", nullptr, global, "t")));
    auto over = limiter->admit("c", nullptr, global, "");
    ASSERT_FALSE(admitted(over));
    EXPECT_EQ(refusal(over).scope, LimitScope::Global);
    // Token-scope limits need a token: a request without one is not counted there.
    config::Limits per_token;
    per_token.token_rate = rate(1);
    auto fresh = Limiter::create(time.clock());
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(admitted(fresh->admit("a", &per_token, {}, "")));
}

TEST(RuntimeRateLimit, NoLimitConfiguredKeepsNoState) {
    auto limiter = Limiter::create();
    const config::Limits none;
    for (int i = 0; i < 100; ++i) {
        auto result = limiter->admit("s", &none, none, "t" + std::to_string(i));
        ASSERT_TRUE(admitted(result));
        EXPECT_EQ(std::get<Permit>(result), nullptr);
    }
    EXPECT_EQ(limiter->entries(), 0u);
}

TEST(RuntimeRateLimit, AReloadedRateAppliesToExistingBuckets) {
    FakeClock time;
    auto limiter = Limiter::create(time.clock());
    config::Limits limits;
    limits.token_rate = rate(10);
    const config::Limits global;
    for (int i = 0; i < 2; ++i) EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "t")));
    limits.token_rate = rate(1);  // tightened: 8 tokens left, capped at 1
    EXPECT_TRUE(admitted(limiter->admit("s", &limits, global, "t")));
    EXPECT_FALSE(admitted(limiter->admit("s", &limits, global, "t")));
}

TEST(RuntimeRateLimit, ParsesRates) {
    using config::parse_rate;
    auto second = parse_rate("10/s");
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->count, 10u);
    EXPECT_EQ(second->period, 1s);
    auto minute = parse_rate("600/min");
    ASSERT_TRUE(minute.ok());
    EXPECT_EQ(minute->period, 60s);
    EXPECT_EQ(parse_rate("5/h")->period, 3600s);
    for (const char* bad :
         {"10", "0/s", "-1/s", "10/d", "ten/s", "10/", "/s", "1.5/s", "99999999999/s"}) {
        EXPECT_FALSE(parse_rate(bad).ok()) << bad;
    }
}

}  // namespace
}  // namespace cloakroom::runtime
