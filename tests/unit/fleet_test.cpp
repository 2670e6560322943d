// Fleet mode without Redis: the [fleet] table's parsing (config/fleet_format.cpp), budgets
// counted across gateways (runtime/rate_limit.hpp's shared counts), revocations learnt from the
// fleet (Revocations::add) and the stale state refusing every genuine token in the one access
// decision. tests/e2e/gateway/test_gateway_fleet.py runs two gateways and a real redis-server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <filesystem>

#include "config/config.hpp"
#include "fleet/budget_script.hpp"
#include "fleet/fleet.hpp"
#include "fleet/redis_client.hpp"
#include "fleet/redis_redirect.hpp"
#include "runtime/access.hpp"
#include "runtime/rate_limit.hpp"
#include "runtime/revocation_store.hpp"
#include "token/token.hpp"

namespace cloakroom {
namespace {

using ::testing::HasSubstr;
using Permit = std::unique_ptr<runtime::Limiter::Permit>;

config::Environment test_env() {
    return config::Environment(config::Environment::Variables{{"HOME", "/home/agent"}});
}

Result<config::Config> parse(std::string_view fleet) {
    return config::parse_config_string("[fleet]\n" + std::string(fleet), "cloakroom.toml",
                                       test_env());
}

TEST(FleetConfig, ReadsTheRedisAddressUserPasswordReferenceAndStaleness) {
    auto config = parse(
        "redis = \"redis://10.0.0.5:6380\"\nuser = \"cloakroom\"\npassword = "
        "\"systemd:redis-password\"\ninstance = \"gw-1\"\nmax_staleness = \"30s\"\n");
    ASSERT_TRUE(config.ok()) << config.error().message;
    const config::FleetConfig& fleet = config->fleet;
    EXPECT_TRUE(fleet.enabled());
    ASSERT_EQ(fleet.nodes.size(), 1u);
    EXPECT_EQ(fleet.topology, config::RedisTopology::Single);
    EXPECT_EQ(fleet.nodes[0].host, "10.0.0.5");
    EXPECT_EQ(fleet.nodes[0].port, 6380);
    EXPECT_FALSE(fleet.tls);
    EXPECT_EQ(fleet.user, "cloakroom");
    ASSERT_TRUE(fleet.password.has_value());
    EXPECT_EQ(fleet.password->name, "redis-password");
    EXPECT_EQ(fleet.instance, "gw-1");
    EXPECT_EQ(fleet.max_staleness, std::chrono::seconds(30));
    // The password reference is one of the configuration's secrets (checked, hidden from
    // sandboxes like the others).
    const auto refs = config->secret_refs();
    EXPECT_NE(std::find(refs.begin(), refs.end(), *fleet.password), refs.end());

    auto defaults = parse("redis = \"redis://[::1]\"\n");
    ASSERT_TRUE(defaults.ok()) << defaults.error().message;
    ASSERT_EQ(defaults->fleet.nodes.size(), 1u);
    EXPECT_EQ(defaults->fleet.nodes[0].host, "::1");
    EXPECT_EQ(defaults->fleet.nodes[0].port, 6379);
    EXPECT_EQ(defaults->fleet.nodes[0].text(), "[::1]:6379");
    EXPECT_EQ(defaults->fleet.max_staleness, std::chrono::seconds(5));
    EXPECT_FALSE(defaults->fleet.instance.empty());

    auto none = config::parse_config_string("", "cloakroom.toml", test_env());
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->fleet.enabled());
}

TEST(FleetConfig, ReadsTlsAndItsTrustSettings) {
    auto url = parse(
        "redis = \"rediss://Redis.Internal:6390\"\nca = \"/etc/ca.pem\"\n"
        "server_name = \"redis.example\"\nclient_cert = \"file:redis-cert\"\n"
        "client_key = \"systemd:redis-key\"\n");
    ASSERT_TRUE(url.ok()) << url.error().message;
    const config::FleetConfig& fleet = url->fleet;
    EXPECT_TRUE(fleet.tls);
    EXPECT_EQ(fleet.nodes.at(0).host, "redis.internal");
    EXPECT_EQ(fleet.nodes.at(0).port, 6390);
    EXPECT_EQ(fleet.ca, std::filesystem::path("/etc/ca.pem"));
    EXPECT_EQ(fleet.server_name, "redis.example");
    ASSERT_TRUE(fleet.client_cert && fleet.client_key);
    EXPECT_EQ(fleet.client_key->name, "redis-key");
    EXPECT_EQ(fleet.redis, "rediss://redis.internal:6390");
    // Both are secrets: checked up front and hidden from sandboxes.
    const auto refs = url->secret_refs();
    EXPECT_NE(std::find(refs.begin(), refs.end(), *fleet.client_key), refs.end());
    EXPECT_NE(std::find(refs.begin(), refs.end(), *fleet.client_cert), refs.end());

    auto flag = parse("redis = \"redis://127.0.0.1:6379\"\ntls = true\n");
    ASSERT_TRUE(flag.ok()) << flag.error().message;
    EXPECT_TRUE(flag->fleet.tls);
    EXPECT_FALSE(flag->fleet.ca.has_value());
    EXPECT_EQ(flag->fleet.server_name, "");
}

TEST(FleetConfig, ReadsClusterSeedsAndSentinels) {
    auto cluster = parse("cluster = [\"10.0.0.1:7000\", \"[fd00::2]:7001\", \"redis-c\"]\n");
    ASSERT_TRUE(cluster.ok()) << cluster.error().message;
    EXPECT_EQ(cluster->fleet.topology, config::RedisTopology::Cluster);
    ASSERT_EQ(cluster->fleet.nodes.size(), 3u);
    EXPECT_EQ(cluster->fleet.nodes[1].host, "fd00::2");
    EXPECT_EQ(cluster->fleet.nodes[1].port, 7001);
    EXPECT_EQ(cluster->fleet.nodes[2].port, 6379);
    EXPECT_TRUE(cluster->fleet.enabled());
    EXPECT_THAT(cluster->fleet.redis, HasSubstr("cluster 10.0.0.1:7000,[fd00::2]:7001"));

    auto sentinel = parse(
        "sentinel = [\"10.0.0.1\", \"10.0.0.2:26380\"]\nsentinel_master = \"main\"\n"
        "sentinel_user = \"watcher\"\nsentinel_password = \"env:SENTINEL_PW\"\n"
        "tls = true\n");
    ASSERT_TRUE(sentinel.ok()) << sentinel.error().message;
    const config::FleetConfig& fleet = sentinel->fleet;
    EXPECT_EQ(fleet.topology, config::RedisTopology::Sentinel);
    ASSERT_EQ(fleet.nodes.size(), 2u);
    EXPECT_EQ(fleet.nodes[0].port, 26379);  // Sentinel's default port
    EXPECT_EQ(fleet.nodes[1].port, 26380);
    EXPECT_EQ(fleet.sentinel_master, "main");
    EXPECT_EQ(fleet.sentinel_user, "watcher");
    ASSERT_TRUE(fleet.sentinel_password.has_value());
    EXPECT_EQ(fleet.sentinel_password->name, "SENTINEL_PW");
    EXPECT_TRUE(fleet.tls);
    EXPECT_THAT(fleet.redis, HasSubstr("sentinel 10.0.0.1:26379,10.0.0.2:26380 master main"));
}

TEST(FleetConfig, MistakesAreReportedWithFileAndLine) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"redis = \"redis-sentinel://r:26379\"\n", "sentinel_master"},
        {"redis = \"redis://a:1,b:2\"\n", "cluster = ["},
        {"redis = \"redis://u:pw@r:6379\"\n", "must not hold a user or password"},
        {"redis = \"rediss://u:pw@r:6379\"\n", "must not hold a user or password"},
        {"redis = \"redis://r:0\"\n", "port"},
        {"redis = \"redis://r:6379/2\"\n", "no database number"},
        {"redis = \"http://r\"\n", "must start with redis:// or rediss://"},
        {"user = \"x\"\n", "needs redis"},
        {"redis = \"redis://r\"\npassword = \"plain-text\"\n", "password"},
        {"redis = \"redis://r\"\ninstance = \"a b\"\n", "instance"},
        {"redis = \"redis://r\"\nmax_staleness = \"0s\"\n", "max_staleness"},
        {"redis = \"redis://r\"\nmax_stale = \"1s\"\n", "max_stale"},
        // TLS settings without TLS would be silently ignored: refused instead.
        {"redis = \"redis://r\"\nca = \"/etc/ca.pem\"\n", "ca needs TLS"},
        {"redis = \"redis://r\"\nserver_name = \"r\"\n", "server_name needs TLS"},
        {"redis = \"rediss://r\"\ntls = false\n", "contradicts"},
        {"redis = \"rediss://r\"\nserver_name = \"r:1\"\n", "without a port"},
        {"redis = \"rediss://r\"\nclient_cert = \"file:c\"\n", "client_cert needs client_key"},
        {"redis = \"rediss://r\"\nclient_key = \"file:k\"\nclient_cert = \"c\"\n", "client_cert"},
        // Topologies.
        {"redis = \"redis://r\"\ncluster = [\"a:1\"]\n", "one of redis, cluster and sentinel"},
        {"cluster = []\n", "at least one"},
        {"cluster = [\"a:1\", \"A:1\"]\n", "twice"},
        {"cluster = [\"a:99999\"]\n", "cluster \"a:99999\""},
        {"cluster = [\"u:p@a:1\"]\n", "must not hold a user or password"},
        {"sentinel = [\"a:1\"]\n", "sentinel_master"},
        {"sentinel = [\"a:1\"]\nsentinel_master = \"a b\"\n", "without spaces"},
        {"redis = \"redis://r\"\nsentinel_master = \"m\"\n", "sentinel_master needs sentinel"},
        {"cluster = [\"a:1\"]\nsentinel_password = \"env:X\"\n", "needs sentinel"},
        {"redis = \"redis://r\"\nsentinels = [\"a:1\"]\n", "sentinels"},
    };
    for (const auto& [text, words] : cases) {
        auto config = parse(text);
        ASSERT_FALSE(config.ok()) << "accepted: " << text;
        EXPECT_THAT(config.error().message, HasSubstr(words)) << text;
        EXPECT_THAT(config.error().message, HasSubstr("cloakroom.toml:")) << text;
    }
    // The element's own line, not the table's.
    auto located = parse("cluster = [\n  \"a:1\",\n  \"b:0\",\n]\n");
    ASSERT_FALSE(located.ok());
    EXPECT_THAT(located.error().message, HasSubstr("cloakroom.toml:4"));
}

// ---- Redis Cluster redirects (fleet/redis_redirect.hpp) ----

TEST(FleetRedirect, ParsesMovedAndAsk) {
    auto moved = fleet::parse_redirect("MOVED 3999 127.0.0.1:6381", "10.0.0.9");
    ASSERT_TRUE(moved.has_value());
    EXPECT_EQ(moved->kind, fleet::Redirect::Kind::Moved);
    EXPECT_EQ(moved->slot, 3999u);
    EXPECT_EQ(moved->node.host, "127.0.0.1");
    EXPECT_EQ(moved->node.port, 6381);

    auto ask = fleet::parse_redirect("ASK 16383 redis-2.internal:7002", "x");
    ASSERT_TRUE(ask.has_value());
    EXPECT_EQ(ask->kind, fleet::Redirect::Kind::Ask);
    EXPECT_EQ(ask->slot, 16383u);
    EXPECT_EQ(ask->node.text(), "redis-2.internal:7002");

    auto v6 = fleet::parse_redirect("MOVED 1 [::1]:7000", "x");
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(v6->node.host, "::1");
    auto bare_v6 = fleet::parse_redirect("MOVED 1 ::1:7000", "x");
    ASSERT_TRUE(bare_v6.has_value());
    EXPECT_EQ(bare_v6->node.host, "::1");
    EXPECT_EQ(bare_v6->node.port, 7000);

    // Redis 7 without a known endpoint: the host of the node that answered.
    auto same = fleet::parse_redirect("MOVED 12 :7005", "10.0.0.9");
    ASSERT_TRUE(same.has_value());
    EXPECT_EQ(same->node.text(), "10.0.0.9:7005");
}

TEST(FleetRedirect, AnythingElseIsNoRedirect) {
    for (const char* text :
         {"ERR unknown command", "MOVED", "MOVED 3999", "MOVED x 127.0.0.1:1", "MOVED 16384 h:1",
          "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED 1 h", "MOVED 1 ?:7000", "ASK 1 h:1x",
          "moved 1 h:1", "MOVED 1 h/x:1", "READONLY You can't write against a read only replica.",
          "MOVED -1 h:1", "MOVED 1 h:-1"}) {
        EXPECT_FALSE(fleet::parse_redirect(text, "cur").has_value()) << text;
    }
    EXPECT_FALSE(fleet::parse_redirect("MOVED 1 :7000", "").has_value());
}

// ---- the wire format hiredis produces (fleet/redis_client.hpp) ----

TEST(FleetRedisClient, FormatsCommandsAsResp) {
    auto formatted =
        fleet::format_command({"SET", "{cloakroom}:epoch", std::string("a\0b\r\n", 5)});
    ASSERT_TRUE(formatted.ok());
    using namespace std::string_literals;
    EXPECT_EQ(*formatted, "*3\r\n$3\r\nSET\r\n$17\r\n{cloakroom}:epoch\r\n$5\r\na\0b\r\n\r\n"s);
}

// ---- budgets across gateways ----

config::Limits budget(std::uint64_t n) {
    config::Limits limits;
    limits.token_budget = n;
    return limits;
}

bool admitted(const std::variant<Permit, runtime::LimitRefusal>& result) {
    return std::holds_alternative<Permit>(result);
}

// Two limiters standing for two gateways, and a map standing for Redis, synced like
// fleet::Fleet::sync_budgets does (INCRBY of the deltas, then read every count).
struct TwoGateways {
    std::shared_ptr<runtime::Limiter> a = runtime::Limiter::create();
    std::shared_ptr<runtime::Limiter> b = runtime::Limiter::create();
    std::map<std::string, std::uint64_t> redis;
    void sync(runtime::Limiter& limiter) {
        for (const auto& delta : limiter.take_budget_deltas()) {
            redis[delta.key] += delta.delta;
            limiter.set_shared_count(delta.key, redis[delta.key]);
        }
        for (const auto& key : limiter.budget_keys(0)) limiter.set_shared_count(key, redis[key]);
    }
    void sync_both() {
        sync(*a);
        sync(*b);
        sync(*a);
    }
};

constexpr std::int64_t kChildExpiry = 1767229200;   // 2026-01-01 01:00 UTC
constexpr std::int64_t kParentExpiry = 1767315600;  // 2026-01-02 00:00 UTC

TEST(FleetBudgetScript, IsNamedByTheSha1RedisComputes) {
    EXPECT_EQ(fleet::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(fleet::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(fleet::budget_script_sha1(), fleet::sha1_hex(fleet::budget_script()));
    EXPECT_EQ(fleet::budget_script_sha1().size(), 40U);
}

TEST(FleetBudgetScript, OnlyNoscriptAndARefusedEvalshaAreSentAgainAsEval) {
    using fleet::EvalshaOutcome;
    EXPECT_EQ(fleet::classify_evalsha_error("NOSCRIPT No matching script. Please use EVAL."),
              EvalshaOutcome::NoScript);
    EXPECT_EQ(fleet::classify_evalsha_error(
                  "NOPERM this user has no permissions to run the 'evalsha' command"),
              EvalshaOutcome::NoPerm);
    // The script ran and a command in it was refused: sending it again would not help.
    EXPECT_EQ(fleet::classify_evalsha_error(
                  "NOPERM this user has no permissions to run the 'expireat' command script: ..."),
              EvalshaOutcome::Ran);
    EXPECT_EQ(fleet::classify_evalsha_error("ERR Error running script"), EvalshaOutcome::Ran);
    EXPECT_EQ(fleet::classify_evalsha_error("READONLY You can't write"), EvalshaOutcome::Ran);
}

TEST(FleetBudgets, ABudgetHoldsAcrossGatewaysThatSyncBetweenRequests) {
    TwoGateways fleet;
    const config::Limits global = budget(4);
    int admitted_total = 0;
    for (int i = 0; i < 10; ++i) {
        runtime::Limiter& gateway = i % 2 == 0 ? *fleet.a : *fleet.b;
        if (admitted(gateway.admit("api", nullptr, global, "tok"))) ++admitted_total;
        fleet.sync_both();
    }
    EXPECT_EQ(admitted_total, 4);
    EXPECT_EQ(fleet.redis["G\x1ftok"], 4u);
    EXPECT_EQ(fleet::Fleet::budget_key("G\x1ftok"), "{cloakroom}:budget:G:tok");
}

TEST(FleetBudgets, WithoutSyncTheOvershootIsWhatTheOtherAdmittedMeanwhile) {
    TwoGateways fleet;
    const config::Limits global = budget(4);
    // Both admit 2 before any sync: each sees only its own.
    for (int i = 0; i < 2; ++i) {
        EXPECT_TRUE(admitted(fleet.a->admit("api", nullptr, global, "tok")));
        EXPECT_TRUE(admitted(fleet.b->admit("api", nullptr, global, "tok")));
    }
    fleet.sync_both();
    EXPECT_FALSE(admitted(fleet.a->admit("api", nullptr, global, "tok")));
    EXPECT_FALSE(admitted(fleet.b->admit("api", nullptr, global, "tok")));
}

TEST(FleetBudgets, AFailedPushIsCountedAgainAndCountsNeverGoDown) {
    TwoGateways fleet;
    const config::Limits global = budget(3);
    EXPECT_TRUE(admitted(fleet.a->admit("api", nullptr, global, "tok")));
    EXPECT_TRUE(admitted(fleet.a->admit("api", nullptr, global, "tok")));
    auto lost = fleet.a->take_budget_deltas();
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_EQ(lost[0].delta, 2u);
    fleet.a->unpush(lost);  // Redis did not answer
    fleet.sync_both();
    EXPECT_EQ(fleet.redis["G\x1ftok"], 2u) << "pushed at the next round";
    // Redis lost its data: the gateway keeps the count it knew.
    fleet.redis.clear();
    fleet.sync(*fleet.a);
    EXPECT_TRUE(admitted(fleet.a->admit("api", nullptr, global, "tok")));
    EXPECT_FALSE(admitted(fleet.a->admit("api", nullptr, global, "tok")));
}

TEST(FleetBudgets, ACountKnowsTheLatestExpiryOfTheTokensThatCountedInIt) {
    // The key in Redis expires after it (fleet.cpp adds a margin): no token of the family can
    // add to the count then.
    const config::Limits global = budget(100);
    auto limiter = runtime::Limiter::create();
    using L = runtime::Limiter;
    // An attenuated token (shorter life) first, then its parent: the parent's expiry wins.
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "fam", {}, kChildExpiry)));
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "fam", {}, kParentExpiry)));
    // Another child later does not shorten it.
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "fam", {}, kChildExpiry)));
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "once", {}, kChildExpiry)));
    // A token without a validity caveat never expires: neither does its count.
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "forever", {}, kChildExpiry)));
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "forever", {}, std::nullopt)));
    std::map<std::string, L::BudgetDelta> by_key;
    for (const auto& delta : limiter->take_budget_deltas()) by_key[delta.key] = delta;
    ASSERT_EQ(by_key.size(), 3u);
    EXPECT_EQ(by_key["G\x1f"
                     "fam"]
                  .expires,
              kParentExpiry);
    EXPECT_EQ(by_key["G\x1f"
                     "fam"]
                  .delta,
              3u);
    EXPECT_EQ(by_key["G\x1f"
                     "once"]
                  .expires,
              kChildExpiry);
    EXPECT_EQ(by_key["G\x1f"
                     "forever"]
                  .expires,
              L::kNeverExpires);
    // The next round's delta keeps what the entry learnt (a later child cannot lower it).
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "fam", {}, kChildExpiry)));
    const auto next = limiter->take_budget_deltas();
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].expires, kParentExpiry);
    // A failed push gives the delta back with its expiry intact.
    limiter->unpush(next);
    const auto again = limiter->take_budget_deltas();
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].expires, kParentExpiry);
}

TEST(FleetBudgets, CountsOfExpiredTokensAreNoLongerRead) {
    const config::Limits global = budget(100);
    auto limiter = runtime::Limiter::create();
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "child", {}, kChildExpiry)));
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "parent", {}, kParentExpiry)));
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "forever", {}, std::nullopt)));
    const auto keys = [&](std::int64_t now) {
        auto out = limiter->budget_keys(now);
        std::sort(out.begin(), out.end());
        return out;
    };
    const std::string child =
                          "G\x1f"
                          "child",
                      parent =
                          "G\x1f"
                          "parent",
                      forever =
                          "G\x1f"
                          "forever";
    EXPECT_EQ(keys(kChildExpiry), (std::vector<std::string>{child, forever, parent}));
    EXPECT_EQ(keys(kChildExpiry + 1), (std::vector<std::string>{forever, parent}));
    EXPECT_EQ(keys(kParentExpiry + 1), (std::vector<std::string>{forever}));
    // A longer-lived token of the family arrives later: its count is read again.
    EXPECT_TRUE(admitted(limiter->admit("api", nullptr, global, "child", {}, kParentExpiry)));
    EXPECT_EQ(keys(kChildExpiry + 1), (std::vector<std::string>{child, forever, parent}));
    // The count itself is kept: a budget spent stays spent.
    limiter->set_shared_count(child, 100);
    EXPECT_FALSE(admitted(limiter->admit("api", nullptr, global, "child", {}, kParentExpiry)));
}

// ---- revocations ----

const token::TokenFormat kFormat;
constexpr std::int64_t kNow = 1767225600;

TEST(FleetRevocations, StaleRefusesEveryTokenItWouldAdmitAndKeepsOtherAnswers) {
    token::KeyStore keys;
    ASSERT_TRUE(keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
    auto mint = [&](std::int64_t until) {
        auto token = token::mint_token(
            keys, "primary",
            {token::hosts_caveat({"api.example.com"}), token::validity_caveat(kNow - 60, until)},
            kFormat);
        EXPECT_TRUE(token.ok());
        return *token;
    };
    const std::string good = mint(kNow + 3600);
    const std::string expired = mint(kNow - 1);
    const token::AccessRequest request{"api.example.com", "GET", "/", kNow};
    runtime::Revocations revocations;
    token::VerifyCache cache;
    runtime::AccessContext context{keys, kFormat, &cache, &revocations};
    using Verdict = runtime::AccessDecision::Verdict;
    EXPECT_EQ(runtime::decide_access(good, request, context).verdict, Verdict::Ok);
    revocations.set_stale(true);
    const auto stale = runtime::decide_access(good, request, context);
    EXPECT_EQ(stale.verdict, Verdict::Unavailable);
    EXPECT_THAT(stale.detail, HasSubstr("max_staleness"));
    EXPECT_FALSE(stale.token_id.empty());
    // A token with only a validity window allows every database login.
    auto any =
        token::mint_token(keys, "primary", {token::validity_caveat(kNow - 60, kNow + 60)}, kFormat);
    ASSERT_TRUE(any.ok());
    const token::DbAccessRequest login{"app", "app", "", "postgres", kNow};
    EXPECT_EQ(runtime::decide_access(*any, login, context).verdict, Verdict::Unavailable)
        << "database logins go through the same decision";
    EXPECT_EQ(runtime::decide_access(good, login, context).verdict, Verdict::Forbidden)
        << "a token that does not allow databases is still told so";
    EXPECT_EQ(runtime::decide_access("acm_garbage", request, context).verdict, Verdict::Invalid);
    EXPECT_EQ(runtime::decide_access(expired, request, context).verdict, Verdict::Expired)
        << "a refusal stays what it is";
    runtime::RevocationRecord record{kNow, "", kNow, "rotated"};
    revocations.add({record});
    EXPECT_EQ(runtime::decide_access(good, request, context).verdict, Verdict::Revoked)
        << "a known revocation is said as such, stale or not";
    revocations.set_stale(false);
    EXPECT_EQ(runtime::decide_access(good, request, context).verdict, Verdict::Revoked);
}

TEST(FleetRevocations, RecordsFromTheFleetSurviveAFileRefreshUntilTheFileHasThem) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("cloakroom-fleet-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const auto path = dir / "revocations";
    runtime::Revocations revocations(path);
    ASSERT_TRUE(revocations.refresh().ok());
    const runtime::RevocationRecord remote{kNow, std::string(32, 'b'), std::nullopt, "elsewhere"};
    const runtime::RevocationRecord local{kNow, std::string(32, 'c'), std::nullopt, "here"};
    revocations.add({remote});
    EXPECT_NE(revocations.find(remote.token_id, kNow), nullptr);
    // `cloakroom revoke` changes the file: the re-read list keeps the fleet's record.
    ASSERT_TRUE(runtime::append_revocation(path, local).ok());
    ASSERT_TRUE(*revocations.refresh());
    EXPECT_NE(revocations.find(remote.token_id, kNow), nullptr);
    EXPECT_NE(revocations.find(local.token_id, kNow), nullptr);
    EXPECT_EQ(revocations.current()->records().size(), 2u);
    // Once the file holds it, it is there once.
    ASSERT_TRUE(runtime::append_revocation(path, remote).ok());
    ASSERT_TRUE(*revocations.refresh());
    EXPECT_EQ(revocations.current()->records().size(), 2u);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cloakroom
