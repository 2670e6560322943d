// write_ca_bundle: system roots + the Cloakroom CA, for clients whose CA setting replaces their
// trust store.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "tls/ca_bundle.hpp"
#include "tls/certificate_authority.hpp"
#include "tls_test_support.hpp"

namespace cloakroom::tls {
namespace {

using testing_support::file_mode;
using testing_support::read_certs;
using testing_support::read_file;
using testing_support::TempDir;
using testing_support::write_file;

// Sets or clears an environment variable for one scope.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

  private:
    const char* name_;
    std::optional<std::string> old_;
};

class BundleTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto ca = CertificateAuthority::load_or_create(dir_ / "ca");
        ASSERT_TRUE(ca.ok()) << ca.error().message;
        ca_ = *ca;
    }
    TempDir dir_;
    std::shared_ptr<const CertificateAuthority> ca_;
};

TEST_F(BundleTest, SystemRootsPlusTheCa) {
    ScopedEnv no_override("SSL_CERT_FILE", nullptr);
    const auto roots = find_system_roots();
    if (!roots) GTEST_SKIP() << "no system CA bundle on this machine";
    const std::size_t system_count = read_certs(*roots).size();
    ASSERT_GT(system_count, 0u);

    const auto out = dir_ / "bundle.pem";
    auto written = write_ca_bundle(*ca_, out);
    ASSERT_TRUE(written.ok()) << written.error().message;
    EXPECT_EQ(*written, out);
    EXPECT_EQ(file_mode(out), 0644u);
    const auto certs = read_certs(out);
    ASSERT_EQ(certs.size(), system_count + 1);
    EXPECT_EQ(X509_cmp(certs.back().get(), ca_->cert()), 0);
}

TEST_F(BundleTest, RewritingFromAnEarlierBundleDoesNotDuplicateTheCa) {
    const auto roots = dir_ / "roots.pem";
    // Two "system roots": another CA's certificate, and this CA itself (an earlier bundle).
    TempDir other_dir;
    auto other = CertificateAuthority::load_or_create(other_dir.path());
    ASSERT_TRUE(other.ok());
    write_file(roots, "# comment\n" + (*other)->cert_pem() + ca_->cert_pem(), 0644);

    auto written = write_ca_bundle(*ca_, dir_ / "bundle.pem", roots);
    ASSERT_TRUE(written.ok()) << written.error().message;
    const auto certs = read_certs(dir_ / "bundle.pem");
    ASSERT_EQ(certs.size(), 2u);
    EXPECT_EQ(X509_cmp(certs[0].get(), (*other)->cert()), 0);
    EXPECT_EQ(X509_cmp(certs[1].get(), ca_->cert()), 0);

    // Written again over itself (SSL_CERT_FILE already pointing at the bundle): same content.
    auto again = write_ca_bundle(*ca_, dir_ / "bundle2.pem", dir_ / "bundle.pem");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(read_certs(dir_ / "bundle2.pem").size(), 2u);
}

TEST_F(BundleTest, SslCertFileIsPreferredUnlessItIsTheBundleItself) {
    const auto custom = dir_ / "custom-roots.pem";
    write_file(custom, ca_->cert_pem(), 0644);
    {
        ScopedEnv env("SSL_CERT_FILE", custom.c_str());
        EXPECT_EQ(find_system_roots(), custom);
        EXPECT_NE(find_system_roots(custom), custom);  // excluded: never read our own output
    }
}

TEST_F(BundleTest, RootsWithoutCertificatesAreAnError) {
    write_file(dir_ / "empty.pem", "nothing here\n", 0644);
    auto written = write_ca_bundle(*ca_, dir_ / "bundle.pem", dir_ / "empty.pem");
    ASSERT_FALSE(written.ok());
    EXPECT_EQ(written.error().code, "tls.bundle");
    EXPECT_NE(written.error().message.find("holds no certificates"), std::string::npos);

    auto missing = write_ca_bundle(*ca_, dir_ / "bundle.pem", dir_ / "missing.pem");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("missing.pem"), std::string::npos);
}

// Sets a file's modification time `seconds` from now (the change time becomes now).
void set_mtime(const std::filesystem::path& path, long seconds) {
    timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec += seconds;
    times[1] = times[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

TEST_F(BundleTest, AnUpToDateBundleIsKeptAnythingNewerRewritesIt) {
    TempDir other_dir;
    auto other = CertificateAuthority::load_or_create(other_dir.path());
    ASSERT_TRUE(other.ok());
    const auto roots = dir_ / "roots.pem";
    write_file(roots, (*other)->cert_pem(), 0644);
    set_mtime(roots, -100);
    ScopedEnv env("SSL_CERT_FILE", roots.c_str());
    const auto out = dir_ / "bundle.pem";
    const std::string trailer =
        "# Cloakroom CA (" + ca_->cert_path().string() + ")\n" + ca_->cert_pem();
    // A marker no real write produces: it stays only while the bundle is left alone.
    auto plant = [&](const std::string& text, long age) {
        write_file(out, "# marker\n" + text, 0644);
        set_mtime(out, age);
    };
    plant(trailer, 10);
    EXPECT_TRUE(bundle_is_current(*ca_, out, roots));
    ASSERT_TRUE(write_ca_bundle(*ca_, out).ok());
    EXPECT_EQ(read_file(out), "# marker\n" + trailer);

    // The system roots changed after the bundle: rewritten from them.
    set_mtime(roots, 20);
    EXPECT_FALSE(bundle_is_current(*ca_, out, roots));
    ASSERT_TRUE(write_ca_bundle(*ca_, out).ok());
    EXPECT_EQ(read_file(out).find("# marker"), std::string::npos);
    ASSERT_EQ(read_certs(out).size(), 2u);
    set_mtime(roots, -100);

    // The CA certificate changed after it.
    plant(trailer, 10);
    set_mtime(ca_->cert_path(), 20);
    EXPECT_FALSE(bundle_is_current(*ca_, out, roots));
    set_mtime(ca_->cert_path(), -100);
    EXPECT_TRUE(bundle_is_current(*ca_, out, roots));

    // Another CA's bundle, or none at the end.
    plant("# Cloakroom CA (" + ca_->cert_path().string() + ")\n" + (*other)->cert_pem(), 10);
    EXPECT_FALSE(bundle_is_current(*ca_, out, roots));
    plant(trailer + (*other)->cert_pem(), 10);
    EXPECT_FALSE(bundle_is_current(*ca_, out, roots));

    // Older than the roots, writable by others, a symbolic link, absent.
    plant(trailer, -200);
    EXPECT_FALSE(bundle_is_current(*ca_, out, roots));
    plant(trailer, 10);
    ASSERT_EQ(::chmod(out.c_str(), 0664), 0);
    EXPECT_FALSE(bundle_is_current(*ca_, out, roots));
    ASSERT_EQ(::chmod(out.c_str(), 0644), 0);
    const auto link = dir_ / "link.pem";
    std::filesystem::create_symlink(out, link);
    EXPECT_FALSE(bundle_is_current(*ca_, link, roots));
    EXPECT_FALSE(bundle_is_current(*ca_, dir_ / "absent.pem", roots));
    EXPECT_TRUE(bundle_is_current(*ca_, out, roots));
}

}  // namespace
}  // namespace cloakroom::tls
