// token::VerifyCache: what a hit skips and what it must not (caveats, expiry, other keys).
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "token/token.hpp"
#include "token/verify_cache.hpp"

namespace cloakroom::token {
namespace {

const TokenFormat kFormat;                 // acm_, location "cloakroom"
constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

KeyStore keys_with(std::string_view kid, char fill) {
    KeyStore keys;
    EXPECT_TRUE(keys.add(kid, secrets::SecretValue(std::string(32, fill))).ok());
    return keys;
}

AccessRequest get(std::string path = "/v1/charges", std::int64_t now = kNow) {
    return AccessRequest{"api.stripe.com", "GET", std::move(path), now};
}

std::string mint(const KeyStore& keys, std::vector<Caveat> extra = {}) {
    extra.push_back(validity_caveat(kNow - 10, kNow + 10));
    auto token = mint_token(keys, "primary", extra, kFormat);
    EXPECT_TRUE(token.ok()) << token.error().message;
    return token.ok() ? *token : std::string();
}

TEST(TokenVerifyCache, MissThenHitWithTheSameOutcome) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache;
    const std::string token = mint(keys, {hosts_caveat({"api.stripe.com"})});
    const VerifyOutcome first = verify_token(token, get(), keys, kFormat, &cache);
    ASSERT_TRUE(first.ok()) << first.reason;
    EXPECT_EQ(cache.misses(), 1u);
    EXPECT_EQ(cache.hits(), 0u);
    EXPECT_EQ(cache.size(), 1u);
    const VerifyOutcome second = verify_token(token, get(), keys, kFormat, &cache);
    ASSERT_TRUE(second.ok()) << second.reason;
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(second.token_id, first.token_id);
    EXPECT_EQ(second.key_id, "primary");
    EXPECT_EQ(second.caveats, first.caveats);
    const VerifyOutcome uncached = verify_token(token, get(), keys, kFormat);
    EXPECT_EQ(uncached.caveats, second.caveats);
    EXPECT_EQ(uncached.token_id, second.token_id);
}

// A hit shares the cached caveat list instead of copying it (token/shared_caveats.hpp); the list
// outlives the cache entry that held it, and the caveats are still evaluated per request.
TEST(TokenVerifyCache, HitsShareTheCachedCaveatsAndStillEvaluateThem) {
    const KeyStore keys = keys_with("primary", 'a');
    std::optional<VerifyOutcome> kept;
    {
        VerifyCache cache;
        const std::string token = mint(keys, {hosts_caveat({"api.stripe.com"})});
        const VerifyOutcome first = verify_token(token, get(), keys, kFormat, &cache);
        const VerifyOutcome second = verify_token(token, get(), keys, kFormat, &cache);
        ASSERT_TRUE(first.ok() && second.ok());
        EXPECT_EQ(&first.caveats.list(), &second.caveats.list());
        EXPECT_EQ(second.caveats.size(), 2u);
        AccessRequest elsewhere = get();
        elsewhere.host = "evil.example.com";
        const VerifyOutcome denied = verify_token(token, elsewhere, keys, kFormat, &cache);
        EXPECT_EQ(denied.stage, Stage::Caveats);
        EXPECT_EQ(&denied.caveats.list(), &second.caveats.list());
        kept = second;
    }
    EXPECT_EQ(kept->caveats.size(), 2u);  // the cache is gone; the shared list is not
    EXPECT_TRUE(validity_denial(kept->caveats, kNow).empty());
}

// Shards are per thread: another thread verifies for itself once (a miss in its own shard), then
// hits; neither thread ever sees a wrong outcome, and the totals add up over the shards.
TEST(TokenVerifyCache, EachThreadHasItsOwnShard) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache;
    const std::string token = mint(keys, {hosts_caveat({"api.stripe.com"})});
    const VerifyOutcome here = verify_token(token, get(), keys, kFormat, &cache);
    ASSERT_TRUE(here.ok()) << here.reason;
    VerifyOutcome there_first, there_second;
    std::thread other([&] {
        there_first = verify_token(token, get(), keys, kFormat, &cache);
        there_second = verify_token(token, get(), keys, kFormat, &cache);
    });
    other.join();
    ASSERT_TRUE(there_first.ok()) << there_first.reason;
    ASSERT_TRUE(there_second.ok()) << there_second.reason;
    EXPECT_EQ(there_second.token_id, here.token_id);
    EXPECT_EQ(cache.misses(), 2u);
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.size(), 2u);
    const std::string forged = token.substr(0, token.size() - 2) + "AA";
    std::thread third(
        [&] { EXPECT_FALSE(verify_token(forged, get(), keys, kFormat, &cache).ok()); });
    third.join();
}

TEST(TokenVerifyCache, CaveatsAndExpiryAreStillEvaluatedOnAHit) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache;
    const std::string token = mint(keys, {paths_caveat({"/v1/**"}).value()});
    ASSERT_TRUE(verify_token(token, get(), keys, kFormat, &cache).ok());
    // Denied path on a hit.
    const VerifyOutcome path = verify_token(token, get("/v2/x"), keys, kFormat, &cache);
    EXPECT_EQ(path.stage, Stage::Caveats);
    // Expired on a hit: the validity window is checked against the request's time.
    const VerifyOutcome expired =
        verify_token(token, get("/v1/x", kNow + 11), keys, kFormat, &cache);
    EXPECT_EQ(expired.stage, Stage::Caveats);
    EXPECT_FALSE(validity_denial(expired.caveats, kNow + 11).empty());
    EXPECT_EQ(cache.hits(), 2u);
    // The access stage too.
    EXPECT_EQ(verify_token(token, get(""), keys, kFormat, &cache).stage, Stage::Access);
    EXPECT_TRUE(verify_token(token, get(), keys, kFormat, &cache).ok());
}

TEST(TokenVerifyCache, OneDifferentByteMissesAndFails) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache;
    const std::string token = mint(keys);
    ASSERT_TRUE(verify_token(token, get(), keys, kFormat, &cache).ok());
    for (std::size_t at : {token.size() - 1, token.size() - 10, std::size_t{12}}) {
        std::string tampered = token;
        tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
        const auto hits = cache.hits();
        const VerifyOutcome out = verify_token(tampered, get(), keys, kFormat, &cache);
        EXPECT_FALSE(out.ok()) << at;
        EXPECT_EQ(cache.hits(), hits) << at;
        // Failures are not cached.
        EXPECT_EQ(cache.size(), 1u);
    }
    // A prefix or an extension of the text is a different key too.
    EXPECT_FALSE(
        verify_token(token.substr(0, token.size() - 1), get(), keys, kFormat, &cache).ok());
    EXPECT_FALSE(verify_token(token + "A", get(), keys, kFormat, &cache).ok());
    EXPECT_EQ(cache.hits(), 0u);
}

TEST(TokenVerifyCache, EntriesOnlyHitForTheirKeyStoreAndPrefix) {
    const KeyStore keys = keys_with("primary", 'a');
    const KeyStore rotated = keys_with("primary", 'b');  // same id, new key
    VerifyCache cache;
    const std::string token = mint(keys);
    ASSERT_TRUE(verify_token(token, get(), keys, kFormat, &cache).ok());
    EXPECT_EQ(verify_token(token, get(), rotated, kFormat, &cache).stage, Stage::Signature);
    EXPECT_EQ(verify_token(token, get(), KeyStore{}, kFormat, &cache).stage, Stage::Signature);
    const TokenFormat other{"xyz_", "cloakroom"};
    EXPECT_EQ(verify_token(token, get(), keys, other, &cache).stage, Stage::Header);
    EXPECT_EQ(cache.hits(), 0u);
}

TEST(TokenVerifyCache, DischargesArePartOfTheKey) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache;
    const std::string token = mint(keys);
    ASSERT_TRUE(verify_token(token, get(), keys, kFormat, &cache).ok());
    // Same main token plus an (unrelated) discharge: a different text, verified afresh.
    const std::string other = mint(keys);
    const VerifyOutcome out = verify_token(token + "," + other, get(), keys, kFormat, &cache);
    EXPECT_EQ(cache.hits(), 0u);
    EXPECT_EQ(out.ok(), verify_token(token + "," + other, get(), keys, kFormat).ok());
}

TEST(TokenVerifyCache, BoundedLeastRecentlyUsed) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache(3);
    std::vector<std::string> tokens;
    for (int i = 0; i < 4; ++i) tokens.push_back(mint(keys));
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(verify_token(tokens[i], get(), keys, kFormat, &cache).ok());
    EXPECT_EQ(cache.size(), 3u);
    ASSERT_TRUE(verify_token(tokens[0], get(), keys, kFormat, &cache).ok());  // 0 most recent
    EXPECT_EQ(cache.hits(), 1u);
    ASSERT_TRUE(verify_token(tokens[3], get(), keys, kFormat, &cache).ok());  // evicts 1
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_NE(cache.find(tokens[0], keys, kFormat.prefix), nullptr);
    EXPECT_EQ(cache.find(tokens[1], keys, kFormat.prefix), nullptr);
    EXPECT_NE(cache.find(tokens[2], keys, kFormat.prefix), nullptr);
    EXPECT_NE(cache.find(tokens[3], keys, kFormat.prefix), nullptr);
}

TEST(TokenVerifyCache, OversizedHeadersAreNotStored) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache;
    const std::string token = mint(
        keys,
        {hosts_caveat({std::string(VerifyCache::kMaxCachedHeaderBytes, 'h'), "api.stripe.com"})});
    ASSERT_TRUE(verify_token(token, get(), keys, kFormat, &cache).ok());
    EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenVerifyCache, ConcurrentUseIsSafe) {
    const KeyStore keys = keys_with("primary", 'a');
    VerifyCache cache(8);  // smaller than the token pool: constant eviction
    std::vector<std::string> tokens;
    for (int i = 0; i < 12; ++i) tokens.push_back(mint(keys));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 400; ++i) {
                const std::string& token = tokens[static_cast<std::size_t>((i * 7 + t) % 12)];
                if (!verify_token(token, get(), keys, kFormat, &cache).ok()) ++failures;
                std::string bad = token;
                bad.back() = bad.back() == 'A' ? 'B' : 'A';
                if (verify_token(bad, get(), keys, kFormat, &cache).ok()) ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_LE(cache.size(), 8u * VerifyCache::kShards);  // at most 8 per thread's shard
    // Cyclic access to 12 tokens through an 8-entry LRU may legitimately never hit (threads that
    // happen to run one after another), so the cache still working is checked afterwards.
    const auto hits_before = cache.hits();
    ASSERT_TRUE(verify_token(tokens[0], get(), keys, kFormat, &cache).ok());
    ASSERT_TRUE(verify_token(tokens[0], get(), keys, kFormat, &cache).ok());
    EXPECT_GT(cache.hits(), hits_before);
}

}  // namespace
}  // namespace cloakroom::token
