// LeafCache: leaves verify against the CA for exactly their host, carry the promised
// extensions and validity, are cached, renewed, bounded and safe to share between threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "tls/certificate_authority.hpp"
#include "tls/leaf_cache.hpp"
#include "tls_test_support.hpp"

namespace cloakroom::tls {
namespace {

using testing_support::TempDir;
using testing_support::verify_leaf;
using testing_support::VerifyTarget;

std::int64_t now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

class LeafTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        auto ca = CertificateAuthority::load_or_create(dir_->path());
        ASSERT_TRUE(ca.ok()) << ca.error().message;
        ca_ = new std::shared_ptr<const CertificateAuthority>(*ca);
    }
    static void TearDownTestSuite() {
        delete ca_;
        delete dir_;
    }
    static const std::shared_ptr<const CertificateAuthority>& ca() { return *ca_; }

    std::shared_ptr<const Leaf> leaf(LeafCache& cache, std::string_view host, std::int64_t at) {
        auto result = cache.get(host, at);
        EXPECT_TRUE(result.ok()) << host << ": " << (result.ok() ? "" : result.error().message);
        return result.ok() ? *result : nullptr;
    }

    static TempDir* dir_;
    static std::shared_ptr<const CertificateAuthority>* ca_;
};

TempDir* LeafTest::dir_ = nullptr;
std::shared_ptr<const CertificateAuthority>* LeafTest::ca_ = nullptr;

std::string common_name(X509* cert) {
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    return buf;
}

TEST_F(LeafTest, DnsLeafVerifiesForItsNameOnly) {
    LeafCache cache(ca());
    const auto t = now();
    auto l = leaf(cache, "api.example.com", t);
    ASSERT_TRUE(l);
    X509* root = ca()->cert();
    EXPECT_EQ(verify_leaf(root, l->cert.get(), {"api.example.com", {}, {}}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, l->cert.get(), {"API.EXAMPLE.COM", {}, {}}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, l->cert.get(), {"other.example.com", {}, {}}),
              X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(verify_leaf(root, l->cert.get(), {"example.com", {}, {}}),
              X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(verify_leaf(root, l->cert.get(), {{}, "127.0.0.1", {}}),
              X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_F(LeafTest, IpLeavesVerifyByAddress) {
    LeafCache cache(ca());
    auto v4 = leaf(cache, "127.0.0.1", now());
    auto v6 = leaf(cache, "[::1]", now());
    ASSERT_TRUE(v4 && v6);
    X509* root = ca()->cert();
    EXPECT_EQ(verify_leaf(root, v4->cert.get(), {{}, "127.0.0.1", {}}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, v4->cert.get(), {{}, "127.0.0.2", {}}),
              X509_V_ERR_IP_ADDRESS_MISMATCH);
    EXPECT_EQ(verify_leaf(root, v6->cert.get(), {{}, "::1", {}}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, v6->cert.get(), {{}, "0:0:0:0:0:0:0:1", {}}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, v6->cert.get(), {{}, "::2", {}}), X509_V_ERR_IP_ADDRESS_MISMATCH);
    EXPECT_EQ(common_name(v6->cert.get()), "::1");
}

TEST_F(LeafTest, LeafCarriesThePromisedProfile) {
    LeafCache cache(ca());
    const auto t = now();
    auto a = leaf(cache, "api.example.com", t);
    auto b = leaf(cache, "b.example.com", t);
    ASSERT_TRUE(a && b);
    X509* cert = a->cert.get();
    EXPECT_EQ(common_name(cert), "api.example.com");
    EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca()->cert())), 0);
    EXPECT_EQ(X509_check_ca(cert), 0);
    EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER, 0u);
    EXPECT_EQ(X509_get_key_usage(cert), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
    ASSERT_NE(X509_get0_authority_key_id(cert), nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert),
                                    X509_get0_subject_key_id(ca()->cert())),
              0);
    EXPECT_EQ(EVP_PKEY_get_base_id(a->key.get()), EVP_PKEY_EC);
    EXPECT_EQ(a->key, b->key);  // one shared leaf key
    EXPECT_EQ(X509_check_private_key(cert, a->key.get()), 1);

    const ASN1_INTEGER* serial_a = X509_get0_serialNumber(cert);
    EXPECT_EQ(ASN1_STRING_length(serial_a), 16);
    EXPECT_NE(ASN1_INTEGER_cmp(serial_a, X509_get0_serialNumber(b->cert.get())), 0);

    EXPECT_EQ(a->not_before, t - 300);
    EXPECT_EQ(a->not_after, t + 24 * 3600);
    X509* root = ca()->cert();
    EXPECT_EQ(verify_leaf(root, cert, {"api.example.com", {}, t - 299}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, cert, {"api.example.com", {}, t - 301}),
              X509_V_ERR_CERT_NOT_YET_VALID);
    EXPECT_EQ(verify_leaf(root, cert, {"api.example.com", {}, t + 24 * 3600 - 1}), X509_V_OK);
    EXPECT_EQ(verify_leaf(root, cert, {"api.example.com", {}, t + 24 * 3600 + 1}),
              X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(LeafTest, LongHostTruncatesCommonNameButNotSan) {
    LeafCache cache(ca());
    const std::string host = std::string(60, 'a') + "." + std::string(60, 'b') + ".example";
    auto l = leaf(cache, host, now());
    ASSERT_TRUE(l);
    EXPECT_EQ(common_name(l->cert.get()), host.substr(0, 64));
    EXPECT_EQ(verify_leaf(ca()->cert(), l->cert.get(), {host, {}, {}}), X509_V_OK);
}

TEST_F(LeafTest, RepeatedGetsReturnTheSameObject) {
    LeafCache cache(ca());
    const auto t = now();
    auto first = leaf(cache, "api.example.com", t);
    EXPECT_EQ(leaf(cache, "api.example.com", t + 10), first);
    EXPECT_EQ(leaf(cache, "API.Example.com.", t + 20), first);  // same canonical host
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_NE(leaf(cache, "[::1]", t), first);
    EXPECT_EQ(leaf(cache, "::1", t), leaf(cache, "[0::1]", t));
    EXPECT_EQ(cache.size(), 2u);
}

TEST_F(LeafTest, RenewsWithinTheRenewWindowAndAfterAClockJumpBack) {
    LeafOptions options;
    options.validity = std::chrono::hours(24);
    options.renew_before = std::chrono::hours(1);
    LeafCache cache(ca(), options);
    const auto t = now();
    auto first = leaf(cache, "api.example.com", t);
    const std::int64_t renew_at = first->not_after - 3600;
    EXPECT_EQ(leaf(cache, "api.example.com", renew_at), first);
    auto renewed = leaf(cache, "api.example.com", renew_at + 1);
    ASSERT_TRUE(renewed);
    EXPECT_NE(renewed, first);
    EXPECT_EQ(renewed->not_after, renew_at + 1 + 24 * 3600);
    EXPECT_EQ(leaf(cache, "api.example.com", renew_at + 2), renewed);
    EXPECT_EQ(cache.size(), 1u);
    // A clock set back before notBefore would make the cached leaf "not yet valid".
    auto back = leaf(cache, "api.example.com", renewed->not_before - 1);
    EXPECT_NE(back, renewed);
}

TEST_F(LeafTest, RenewWindowLongerThanValidityIsClamped) {
    LeafOptions options;
    options.validity = std::chrono::hours(1);
    options.renew_before = std::chrono::hours(2);
    LeafCache cache(ca(), options);
    const auto t = now();
    auto first = leaf(cache, "api.example.com", t);
    EXPECT_EQ(leaf(cache, "api.example.com", t + 1), first);  // not re-minted on every get
}

TEST_F(LeafTest, InvalidHostsAreErrors) {
    LeafCache cache(ca());
    for (const std::string& bad : {std::string(""), std::string("a\0b", 3), std::string("a b"),
                                   std::string(254, 'a'), std::string("x.com:443")}) {
        auto result = cache.get(bad, now());
        ASSERT_FALSE(result.ok()) << bad;
        EXPECT_EQ(result.error().code, "tls.host");
    }
    EXPECT_EQ(cache.size(), 0u);
}

TEST_F(LeafTest, ExpiredCaMintsNothing) {
    LeafCache cache(ca());
    auto result = cache.get("api.example.com", ca()->not_after() + 1);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, "tls.leaf");
    EXPECT_NE(result.error().message.find("expired"), std::string::npos);
}

TEST_F(LeafTest, LeafNeverOutlivesTheCa) {
    LeafCache cache(ca());
    auto l = leaf(cache, "api.example.com", ca()->not_after() - 2 * 3600);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->not_after, ca()->not_after());
}

TEST_F(LeafTest, LeastRecentlyUsedHostsAreDroppedBeyondTheLimit) {
    LeafOptions options;
    options.max_entries = 3;
    LeafCache cache(ca(), options);
    const auto t = now();
    auto a = leaf(cache, "a.example", t);
    leaf(cache, "b.example", t);
    leaf(cache, "c.example", t);
    EXPECT_EQ(leaf(cache, "a.example", t), a);  // a is now the most recent
    leaf(cache, "d.example", t);                // drops b
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_EQ(leaf(cache, "a.example", t), a);
}

TEST_F(LeafTest, ConcurrentGetsAreSafeAndConsistent) {
    LeafCache cache(ca());
    const auto t = now();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    std::vector<std::vector<const Leaf*>> seen(4, std::vector<const Leaf*>(50));
    for (int thread = 0; thread < 4; ++thread) {
        threads.emplace_back([&, thread] {
            for (int i = 0; i < 1000; ++i) {
                const int host = (i * 7 + thread) % 50;
                auto result = cache.get("host" + std::to_string(host) + ".example", t);
                if (!result.ok() || !*result) {
                    ++failures;
                    continue;
                }
                seen[thread][host] = result->get();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(cache.size(), 50u);
    // Racing first mints settle on one leaf per host: the final view matches every thread's.
    for (int host = 0; host < 50; ++host) {
        auto final_leaf = leaf(cache, "host" + std::to_string(host) + ".example", t);
        for (int thread = 0; thread < 4; ++thread) {
            EXPECT_EQ(seen[thread][host], final_leaf.get()) << host;
        }
        EXPECT_EQ(verify_leaf(ca()->cert(), final_leaf->cert.get(),
                              {"host" + std::to_string(host) + ".example", {}, {}}),
                  X509_V_OK);
    }
}

// Thread CPU time in microseconds: wall time on a shared machine mostly measures the neighbours.
double cpu_micros() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Not asserted: prints the cost of a mint and of a cached get on this machine.
TEST_F(LeafTest, MeasureMintAndCachedGet) {
    using Clock = std::chrono::steady_clock;
    using std::chrono::duration;
    LeafCache cache(ca());
    const auto t = now();
    constexpr int kMints = 500;
    const auto mint_start = Clock::now();
    const double mint_cpu = cpu_micros();
    for (int i = 0; i < kMints; ++i) {
        ASSERT_TRUE(cache.get("m" + std::to_string(i) + ".example.com", t).ok());
    }
    const double mint_cpu_us = (cpu_micros() - mint_cpu) / kMints;
    const double mint_wall_us =
        duration<double, std::micro>(Clock::now() - mint_start).count() / kMints;
    constexpr int kGets = 200000;
    const auto get_start = Clock::now();
    const double get_cpu = cpu_micros();
    for (int i = 0; i < kGets; ++i) {
        ASSERT_TRUE(cache.get("m" + std::to_string(i % kMints) + ".example.com", t).ok());
    }
    const double get_cpu_us = (cpu_micros() - get_cpu) / kGets;
    const double get_wall_us =
        duration<double, std::micro>(Clock::now() - get_start).count() / kGets;
    std::printf(
        "[ measure  ] leaf mint: %.1f us cpu (%.1f us wall), cached get: %.2f us cpu "
        "(%.2f us wall)\n",
        mint_cpu_us, mint_wall_us, get_cpu_us, get_wall_us);
}

}  // namespace
}  // namespace cloakroom::tls
