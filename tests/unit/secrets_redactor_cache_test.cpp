// The per-thread cache of compiled redaction automata (issue 5): a Redactor for the same needles
// as a recent one reuses the automaton, and only needles with exactly the same bytes ever do,
// whatever their hash or length (a rotated secret must be redacted, the old one no longer).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "proxy/head_redaction.hpp"
#include "secrets/redactor.hpp"

namespace cloakroom::secrets {
namespace {

// Every test starts from the same hash setting and restores it.
class ProxyRedactorCache : public ::testing::Test {
  protected:
    void TearDown() override { detail::redactor_cache_collide_hashes(false); }
};

std::string redacted(const std::vector<std::string_view>& needles, std::string_view text) {
    return Redactor(needles).redact(text);
}

TEST_F(ProxyRedactorCache, SameNeedlesAreALookup) {
    const std::string secret = "sk_cache_same_0123456789";
    const auto before = detail::redactor_cache_stats();
    EXPECT_EQ(redacted({secret}, "x" + secret + "y"), "x" + std::string(secret.size(), '*') + "y");
    // Different storage, same bytes: a hit.
    const std::string copy = secret;
    EXPECT_EQ(redacted({copy}, secret), std::string(secret.size(), '*'));
    const auto after = detail::redactor_cache_stats();
    EXPECT_EQ(after.misses - before.misses, 1u);
    EXPECT_EQ(after.hits - before.hits, 1u);
}

TEST_F(ProxyRedactorCache, SameLengthDifferentBytesIsNotAHit) {
    for (const bool collide : {false, true}) {
        detail::redactor_cache_collide_hashes(collide);
        const std::string a = collide ? "AAAA-collide-1" : "AAAA-distinct1";
        const std::string b = collide ? "BBBB-collide-1" : "BBBB-distinct1";
        ASSERT_EQ(a.size(), b.size());
        const std::string text = a + "|" + b;
        EXPECT_EQ(redacted({a}, text), std::string(a.size(), '*') + "|" + b);
        const auto before = detail::redactor_cache_stats();
        // With collide on, B's set lands on A's entry by hash: only the byte compare tells.
        EXPECT_EQ(redacted({b}, text), a + "|" + std::string(b.size(), '*'));
        EXPECT_EQ(detail::redactor_cache_stats().misses - before.misses, 1u);
        EXPECT_EQ(redacted({a}, text), std::string(a.size(), '*') + "|" + b);
    }
}

TEST_F(ProxyRedactorCache, NeedleBoundariesAreStrictlyPartOfTheKey) {
    detail::redactor_cache_collide_hashes(true);
    // The same concatenated bytes, split differently, or with one more needle: other sets.
    EXPECT_EQ(redacted({"ab", "cd"}, "abcd abc bcd"), "**** **c b**");
    EXPECT_EQ(redacted({"abc", "d"}, "abcd abc bcd"), "**** *** bc*");
    EXPECT_EQ(redacted({"abcd"}, "abcd abc bcd"), "**** abc bcd");
    EXPECT_EQ(redacted({"abcd", "x"}, "abcd x abc"), "**** * abc");
    EXPECT_EQ(redacted({"abcd"}, "abcd x abc"), "**** x abc");
    // A prefix of a cached set is not that set.
    EXPECT_EQ(redacted({"ab"}, "abcd"), "**cd");
    // Empty needles are ignored: the same set as without them.
    EXPECT_EQ(redacted({"", "abcd", ""}, "abcd ab"), "**** ab");
}

TEST_F(ProxyRedactorCache, RotatedSecretIsPickedUp) {
    for (const bool collide : {false, true}) {
        detail::redactor_cache_collide_hashes(collide);
        std::string secret = "sk_live_rotate_v1_abcdef";
        const std::string body_old = "echo: Bearer sk_live_rotate_v1_abcdef";
        const std::string body_new = "echo: Bearer sk_live_rotate_v2_abcdef";
        std::string header = "Bearer " + secret;
        EXPECT_EQ(redacted({secret, header}, body_old), "echo: " + std::string(31, '*'));
        // Rotate in place: the same buffers now hold the new value.
        secret[16] = '2';
        header = "Bearer " + secret;
        EXPECT_EQ(redacted({secret, header}, body_new), "echo: " + std::string(31, '*'));
        EXPECT_EQ(redacted({secret, header}, body_old), body_old);
    }
}

TEST_F(ProxyRedactorCache, EvictionKeepsEverySetCorrect) {
    // More sets than the cache holds, cycled: hits, misses and evictions all redact right.
    for (const bool collide : {false, true}) {
        detail::redactor_cache_collide_hashes(collide);
        std::vector<std::string> secrets;
        for (int i = 0; i < 40; ++i) secrets.push_back("secret-" + std::to_string(100 + i));
        for (int round = 0; round < 3; ++round) {
            for (int i = 0; i < 40; ++i) {
                const int n = (i * 7 + round) % 40;
                const int other = (n + 1) % 40;
                const std::string text = secrets[n] + " " + secrets[other];
                EXPECT_EQ(redacted({secrets[n]}, text), "********** " + secrets[other]);
            }
        }
    }
}

TEST_F(ProxyRedactorCache, RedactorOutlivesItsEvictedEntry) {
    Redactor kept({"keep-me-secret"});
    for (int i = 0; i < 40; ++i) redacted({"filler-" + std::to_string(i)}, "x");
    std::string out;
    kept.feed("a keep-me-", out);
    kept.feed("secret b", out);
    kept.finish(out);
    EXPECT_EQ(out, "a ************** b");
}

TEST_F(ProxyRedactorCache, EachThreadHasItsOwnCache) {
    const std::string secret = "per-thread-secret";
    EXPECT_EQ(redacted({secret}, secret), std::string(secret.size(), '*'));
    std::thread([&] {
        const auto before = detail::redactor_cache_stats();
        EXPECT_EQ(redacted({secret}, secret), std::string(secret.size(), '*'));
        EXPECT_EQ(detail::redactor_cache_stats().misses - before.misses, 1u);
    }).join();
}

TEST_F(ProxyRedactorCache, HeaderValuesUseTheExactNeedles) {
    detail::redactor_cache_collide_hashes(true);
    const auto make = [] {
        http::Head header;
        EXPECT_TRUE(header.parse_response(
            "HTTP/1.1 200 OK\r\nx-a: value AAAAAAAA\r\nx-b: value BBBBBBBB\r\n\r\n"));
        return header;
    };
    auto first = make();
    proxy::redact_header_values(first, {"AAAAAAAA"});
    EXPECT_EQ(first["x-a"], "value ********");
    EXPECT_EQ(first["x-b"], "value BBBBBBBB");
    auto second = make();
    proxy::redact_header_values(second, {"BBBBBBBB"});
    EXPECT_EQ(second["x-a"], "value AAAAAAAA");
    EXPECT_EQ(second["x-b"], "value ********");
    auto none = make();
    proxy::redact_header_values(none, {"CCCCCCCC"});
    EXPECT_EQ(none["x-a"], "value AAAAAAAA");
    EXPECT_EQ(none["x-b"], "value BBBBBBBB");
}

}  // namespace
}  // namespace cloakroom::secrets
