// CertificateAuthority: creation (extensions, modes, no partial or overwritten key), reload,
// and each way an existing CA on disk is refused.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <ctime>
#include <filesystem>
#include <set>
#include <thread>

#include "tls/ca_files.hpp"
#include "tls/certificate_authority.hpp"
#include "tls/secure_files.hpp"
#include "tls/x509_build.hpp"
#include "tls_test_support.hpp"

namespace cloakroom::tls {
namespace {

namespace fs = std::filesystem;
using testing_support::file_mode;
using testing_support::read_file;
using testing_support::TempDir;
using testing_support::write_file;

std::int64_t now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

std::string name_entry(X509* cert, int nid) {
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, buf, sizeof buf);
    return buf;
}

bool critical(X509* cert, int nid) {
    const int index = X509_get_ext_by_NID(cert, nid, -1);
    return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

std::string key_pem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

// A self-signed certificate with chosen basicConstraints and validity, written as ca.pem/ca.key.
void write_custom_ca(const fs::path& dir, const char* basic_constraints, std::int64_t not_before,
                     std::int64_t not_after) {
    fs::create_directories(dir);
    EvpPkeyPtr key(EVP_EC_gen("P-256"));
    ASSERT_TRUE(key);
    auto cert = new_certificate(key.get(), "test");
    ASSERT_TRUE(cert.ok());
    X509* x = cert->get();
    ASSERT_TRUE(set_validity(x, not_before, not_after, "test").ok());
    ASSERT_TRUE(set_subject(x, "custom", std::nullopt, "test").ok());
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    ASSERT_TRUE(add_extension(x, &ctx, NID_basic_constraints, basic_constraints, "test").ok());
    ASSERT_TRUE(sign_certificate(x, key.get(), "test").ok());
    auto pem = certificate_pem(x, "test");
    ASSERT_TRUE(pem.ok());
    write_file(dir / "ca.pem", *pem, 0644);
    write_file(dir / "ca.key", key_pem(key.get()), 0600);
}

void expect_ca_error(const fs::path& dir, std::string_view fragment) {
    auto loaded = CertificateAuthority::load_or_create(dir);
    ASSERT_FALSE(loaded.ok()) << "expected an error containing: " << fragment;
    EXPECT_EQ(loaded.error().code, "tls.ca");
    EXPECT_NE(loaded.error().message.find(fragment), std::string::npos) << loaded.error().message;
}

std::set<std::string> dir_entries(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        names.insert(entry.path().filename().string());
    }
    return names;
}

TEST(CertificateAuthority, CreatesP256CaWithExtensionsAndModes) {
    TempDir tmp;
    const fs::path dir = tmp / "data/cloakroom/ca";
    auto ca = CertificateAuthority::load_or_create(dir);
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    EXPECT_TRUE((*ca)->created());
    EXPECT_EQ((*ca)->cert_path(), dir / "ca.pem");

    EXPECT_EQ(file_mode(tmp / "data"), 0700u);  // parents too: they will hold key material
    EXPECT_EQ(file_mode(dir), 0700u);
    EXPECT_EQ(file_mode(dir / "ca.key"), 0600u);
    EXPECT_EQ(file_mode(dir / "ca.pem"), 0644u);
    EXPECT_EQ(dir_entries(dir), (std::set<std::string>{"ca.key", "ca.pem"}));  // no temp files

    X509* cert = (*ca)->cert();
    EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
    EXPECT_EQ(X509_check_ca(cert), 1);
    EXPECT_NE(X509_get_extension_flags(cert) & EXFLAG_CA, 0u);
    EXPECT_EQ(X509_get_pathlen(cert), 0);
    EXPECT_TRUE(critical(cert, NID_basic_constraints));
    EXPECT_TRUE(critical(cert, NID_key_usage));
    EXPECT_EQ(X509_get_key_usage(cert), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    EXPECT_NE(X509_get0_subject_key_id(cert), nullptr);
    EXPECT_EQ(name_entry(cert, NID_commonName).rfind("Cloakroom CA (", 0), 0u);
    EXPECT_EQ(name_entry(cert, NID_organizationName), "Cloakroom");
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
    EXPECT_EQ(X509_verify(cert, (*ca)->key()), 1);  // self-signed by its own key

    char group[64] = {};
    size_t group_len = 0;
    EXPECT_EQ(EVP_PKEY_get_base_id((*ca)->key()), EVP_PKEY_EC);
    EVP_PKEY_get_group_name((*ca)->key(), group, sizeof group, &group_len);
    EXPECT_STREQ(group, "prime256v1");

    const std::int64_t years10 = 10LL * 365 * 24 * 3600;
    EXPECT_GE((*ca)->not_after() - now(), years10 - 3600);
    EXPECT_LE((*ca)->not_after() - now(), years10 + 4 * 24 * 3600);
    EXPECT_EQ((*ca)->cert_pem(), read_file(dir / "ca.pem"));
}

TEST(CertificateAuthority, ReloadGivesTheSameCertificate) {
    TempDir tmp;
    auto first = CertificateAuthority::load_or_create(tmp.path());
    ASSERT_TRUE(first.ok()) << first.error().message;
    const std::string key_before = read_file(tmp / "ca.key");
    auto second = CertificateAuthority::load_or_create(tmp.path());
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_FALSE((*second)->created());
    EXPECT_EQ(X509_cmp((*first)->cert(), (*second)->cert()), 0);
    EXPECT_EQ((*first)->cert_pem(), (*second)->cert_pem());
    EXPECT_EQ(EVP_PKEY_eq((*first)->key(), (*second)->key()), 1);
    EXPECT_EQ(read_file(tmp / "ca.key"), key_before);

    auto read_only = CertificateAuthority::load(tmp.path());
    ASSERT_TRUE(read_only.ok()) << read_only.error().message;
    EXPECT_EQ(X509_cmp((*first)->cert(), (*read_only)->cert()), 0);
}

TEST(CertificateAuthority, LoadNeverCreates) {
    TempDir tmp;
    auto loaded = CertificateAuthority::load(tmp.path());
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.error().message.find("no CA in"), std::string::npos);
    EXPECT_TRUE(dir_entries(tmp.path()).empty());
}

TEST(CertificateAuthority, RefusesCorruptedPem) {
    TempDir tmp;
    ASSERT_TRUE(CertificateAuthority::load_or_create(tmp.path()).ok());
    write_file(tmp / "ca.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n", 0644);
    expect_ca_error(tmp.path(), "ca.pem is not a PEM certificate");
}

TEST(CertificateAuthority, RefusesCorruptedKey) {
    TempDir tmp;
    ASSERT_TRUE(CertificateAuthority::load_or_create(tmp.path()).ok());
    write_file(tmp / "ca.key", "garbage", 0600);
    expect_ca_error(tmp.path(), "ca.key is not an unencrypted PEM private key");
}

TEST(CertificateAuthority, RefusesKeyThatDoesNotMatchTheCertificate) {
    TempDir one, two;
    ASSERT_TRUE(CertificateAuthority::load_or_create(one.path()).ok());
    ASSERT_TRUE(CertificateAuthority::load_or_create(two.path()).ok());
    write_file(one / "ca.key", read_file(two / "ca.key"), 0600);
    expect_ca_error(one.path(), "does not belong to");
}

TEST(CertificateAuthority, RefusesSymlinkedKey) {
    TempDir tmp;
    ASSERT_TRUE(CertificateAuthority::load_or_create(tmp / "ca").ok());
    fs::rename(tmp / "ca/ca.key", tmp / "real.key");
    fs::create_symlink(tmp / "real.key", tmp / "ca/ca.key");
    expect_ca_error(tmp / "ca", "is a symbolic link");
}

TEST(CertificateAuthority, RefusesKeyReadableByOthersAndSaysHowToFix) {
    TempDir tmp;
    ASSERT_TRUE(CertificateAuthority::load_or_create(tmp.path()).ok());
    ::chmod((tmp / "ca.key").c_str(), 0644);
    expect_ca_error(tmp.path(), "has mode 0644");
    expect_ca_error(tmp.path(), "chmod 600 " + (tmp / "ca.key").string());
    ::chmod((tmp / "ca.key").c_str(), 0640);  // group alone is just as bad
    expect_ca_error(tmp.path(), "has mode 0640");
    ::chmod((tmp / "ca.key").c_str(), 0600);
    EXPECT_TRUE(CertificateAuthority::load_or_create(tmp.path()).ok());
}

TEST(CertificateAuthority, RefusesNonCaCertificate) {
    TempDir tmp;
    write_custom_ca(tmp.path(), "critical,CA:FALSE", now() - 60, now() + 3600);
    expect_ca_error(tmp.path(), "is not a CA certificate");
}

TEST(CertificateAuthority, RefusesExpiredAndNotYetValidCa) {
    TempDir expired, future;
    write_custom_ca(expired.path(), "critical,CA:TRUE", now() - 7200, now() - 3600);
    expect_ca_error(expired.path(), "expired on");
    write_custom_ca(future.path(), "critical,CA:TRUE", now() + 3600, now() + 7200);
    expect_ca_error(future.path(), "is not valid until");
}

TEST(CertificateAuthority, AcceptsACaItDidNotCreate) {
    TempDir tmp;
    write_custom_ca(tmp.path(), "critical,CA:TRUE", now() - 60, now() + 3600);
    auto ca = CertificateAuthority::load_or_create(tmp.path());
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    EXPECT_FALSE((*ca)->created());
}

TEST(CertificateAuthority, ExistingKeyWithoutCertificateIsNeverOverwritten) {
    TempDir tmp;
    write_file(tmp / "ca.key", "an existing key someone trusts\n", 0600);
    expect_ca_error(tmp.path(), "ca.key exists but");
    expect_ca_error(tmp.path(), "ca.pem is missing");
    EXPECT_EQ(read_file(tmp / "ca.key"), "an existing key someone trusts\n");
    EXPECT_EQ(dir_entries(tmp.path()), (std::set<std::string>{"ca.key"}));
}

TEST(CertificateAuthority, ExistingCertificateWithoutKeyIsAnError) {
    TempDir tmp;
    write_file(tmp / "ca.pem", "cert", 0644);
    expect_ca_error(tmp.path(), "ca.key is missing");
    EXPECT_EQ(dir_entries(tmp.path()), (std::set<std::string>{"ca.pem"}));
}

TEST(CertificateAuthority, StaleTemporaryFileFromACrashIsHarmless) {
    TempDir tmp;
    // What a crash in the middle of writing the key would leave: only a temp name, never ca.key.
    write_file(tmp / "ca.key.tmp-AAAAAA", "-----BEGIN PRIVATE KEY-----\nhalf", 0600);
    auto ca = CertificateAuthority::load_or_create(tmp.path());
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    EXPECT_EQ(read_file(tmp / "ca.key.tmp-AAAAAA"), "-----BEGIN PRIVATE KEY-----\nhalf");
}

TEST(CertificateAuthority, ConcurrentCreatorsAgreeOnOneCa) {
    TempDir tmp;
    const fs::path dir = tmp / "ca";
    std::vector<std::shared_ptr<const CertificateAuthority>> results(4);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&, i] {
            auto ca = CertificateAuthority::load_or_create(dir);
            if (ca.ok()) results[i] = *ca;
        });
    }
    for (auto& thread : threads) thread.join();
    int created = 0;
    for (const auto& ca : results) {
        ASSERT_NE(ca, nullptr);
        created += ca->created() ? 1 : 0;
        EXPECT_EQ(X509_cmp(ca->cert(), results[0]->cert()), 0);
    }
    EXPECT_EQ(created, 1);
}

TEST(SecureFiles, NoReplaceWriteRefusesAnExistingFileAndLeavesNoTemp) {
    TempDir tmp;
    write_file(tmp / "ca.key", "original", 0600);
    auto wrote = write_file_atomic(tmp / "ca.key", "new", 0600, WriteMode::kNoReplace, "tls.ca");
    ASSERT_FALSE(wrote.ok());
    EXPECT_NE(wrote.error().message.find("already exists; refusing to overwrite"),
              std::string::npos);
    EXPECT_EQ(read_file(tmp / "ca.key"), "original");
    EXPECT_EQ(dir_entries(tmp.path()), (std::set<std::string>{"ca.key"}));
}

TEST(SecureFiles, ReplaceWriteSetsTheModeDespiteTheUmask) {
    TempDir tmp;
    const mode_t old_umask = ::umask(077);
    auto wrote = write_file_atomic(tmp / "bundle.pem", "x", 0644, WriteMode::kReplace, "t");
    ::umask(old_umask);
    ASSERT_TRUE(wrote.ok()) << wrote.error().message;
    EXPECT_EQ(file_mode(tmp / "bundle.pem"), 0644u);
}

}  // namespace
}  // namespace cloakroom::tls
