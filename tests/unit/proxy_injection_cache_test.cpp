// The per-thread injection plan cache: a plan is reused only for the same credential object of
// a live owner and the same resolved secret bytes; a rotated secret, a new owner (reload), an
// unresolvable secret and eviction each lead to the right plan or error, never a stale one.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/injection_cache.hpp"
#include "proxy_test_support.hpp"
#include "secrets_test_util.hpp"

namespace cloakroom::proxy {
namespace {

using secrets::testing_support::ScopedEnv;
using test::secret_ref;

secrets::SecretResolver resolver() {
    return secrets::SecretResolver(
        secrets::SecretSources{{}, std::nullopt, std::chrono::seconds(5)});
}

config::Credential bearer(const char* env) {
    config::Credential c;
    c.type = config::CredentialType::Bearer;
    c.secret = secret_ref(std::string("env:") + env);
    return c;
}

std::string authorization(const PreparedInjection& prepared) {
    for (const auto& [name, value] : prepared.plan.set_headers) {
        if (name == "Authorization") return value;
    }
    return {};
}

class InjectionCacheTest : public ::testing::Test {
  protected:
    ScopedEnv secret{"CLOAKROOM_CACHE_SECRET", "sk_first_CANARY"};
    const secrets::SecretResolver resolve = resolver();
    std::shared_ptr<int> owner = std::make_shared<int>(1);
    config::Credential credential = bearer("CLOAKROOM_CACHE_SECRET");

    std::shared_ptr<const PreparedInjection> prepare(const std::shared_ptr<int>& who,
                                                     const config::Credential& c) {
        auto prepared = prepare_injection(who, c, resolve);
        EXPECT_TRUE(prepared.ok()) << (prepared.ok() ? "" : prepared.error().message);
        return prepared.ok() ? *prepared : nullptr;
    }
};

TEST_F(InjectionCacheTest, SameCredentialAndSecretReusesThePlan) {
    const auto before = detail::injection_cache_stats();
    auto first = prepare(owner, credential);
    auto second = prepare(owner, credential);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first.get(), second.get());
    const auto after = detail::injection_cache_stats();
    EXPECT_EQ(after.builds - before.builds, 1u);
    EXPECT_EQ(after.hits - before.hits, 1u);
    EXPECT_EQ(authorization(*second), "Bearer sk_first_CANARY");
    EXPECT_FALSE(second->needles.empty());
    // The compiled needles redact what the plan injects.
    EXPECT_EQ(second->needles.redactor().redact("echo sk_first_CANARY!"),
              "echo " + std::string(15, '*') + "!");
}

TEST_F(InjectionCacheTest, RotatedSecretBuildsANewPlanAtOnce) {
    auto first = prepare(owner, credential);
    ScopedEnv rotated{"CLOAKROOM_CACHE_SECRET", "sk_second_CANARY"};
    auto second = prepare(owner, credential);
    ASSERT_TRUE(first && second);
    EXPECT_NE(first.get(), second.get());
    EXPECT_EQ(authorization(*second), "Bearer sk_second_CANARY");
    EXPECT_EQ(second->needles.redactor().redact("sk_second_CANARY sk_first_CANARY"),
              std::string(16, '*') + " sk_first_CANARY");
    // The earlier plan is untouched for whoever still holds it.
    EXPECT_EQ(authorization(*first), "Bearer sk_first_CANARY");
}

TEST_F(InjectionCacheTest, AnUnresolvableSecretIsAnErrorNotTheCachedPlan) {
    ASSERT_TRUE(prepare(owner, credential));
    ScopedEnv gone{"CLOAKROOM_CACHE_SECRET", nullptr};
    auto prepared = prepare_injection(owner, credential, resolve);
    ASSERT_FALSE(prepared.ok());
    EXPECT_EQ(prepared.error().code, "inject.secret");
    EXPECT_EQ(prepared.error().message.find("sk_first_CANARY"), std::string::npos);
}

// A reload makes a new owner: its credential objects never match the old owner's entries,
// even at the same address, and entries of an owner that is gone are dropped.
TEST_F(InjectionCacheTest, ANewOwnerNeverSeesAnotherOwnersPlan) {
    auto first = prepare(owner, credential);
    auto other_owner = std::make_shared<int>(2);
    const auto before = detail::injection_cache_stats();
    auto second = prepare(other_owner, credential);
    EXPECT_EQ(detail::injection_cache_stats().builds - before.builds, 1u);
    ASSERT_TRUE(first && second);
    EXPECT_NE(first.get(), second.get());

    // Same credential object, and a new owner at the very address of one that is gone (aliasing
    // shared_ptrs over one int): the address alone must not match.
    static int storage = 0;
    auto old_owner = std::shared_ptr<int>(std::make_shared<char>('a'), &storage);
    auto kept = prepare(old_owner, credential);
    ASSERT_TRUE(kept);
    old_owner.reset();
    kept.reset();
    auto new_owner = std::shared_ptr<int>(std::make_shared<char>('b'), &storage);
    const auto again = detail::injection_cache_stats();
    auto third = prepare(new_owner, credential);
    EXPECT_EQ(detail::injection_cache_stats().builds - again.builds, 1u)
        << "a plan of an owner that is gone was reused";
    ASSERT_TRUE(third);
}

TEST_F(InjectionCacheTest, DifferentCredentialsGetTheirOwnPlansAndTheOldestIsEvicted) {
    std::vector<config::Credential> credentials;
    credentials.reserve(detail::kInjectionCacheCapacity + 1);
    for (std::size_t i = 0; i <= detail::kInjectionCacheCapacity; ++i) {
        credentials.push_back(bearer("CLOAKROOM_CACHE_SECRET"));
        credentials.back().type = config::CredentialType::Header;
        credentials.back().header = "X-Key-" + std::to_string(i);
    }
    for (const auto& c : credentials) {
        auto prepared = prepare(owner, c);
        ASSERT_TRUE(prepared);
        ASSERT_EQ(prepared->plan.set_headers.size(), 1u);
        EXPECT_EQ(prepared->plan.set_headers[0].first, c.header);
    }
    // The last kCapacity are cached; the first was evicted and is built again.
    auto before = detail::injection_cache_stats();
    prepare(owner, credentials.back());
    EXPECT_EQ(detail::injection_cache_stats().hits - before.hits, 1u);
    before = detail::injection_cache_stats();
    prepare(owner, credentials.front());
    EXPECT_EQ(detail::injection_cache_stats().builds - before.builds, 1u);
}

}  // namespace
}  // namespace cloakroom::proxy
