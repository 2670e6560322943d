#include "tls/ca_bundle.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <vector>

#include "tls/openssl_error.hpp"
#include "tls/secure_files.hpp"
#include "tls/x509_build.hpp"

namespace cloakroom::tls {
namespace {

const std::string kBundleCode = "tls.bundle";
constexpr std::size_t kMaxBundleSize = 16 * 1024 * 1024;

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
    std::error_code ec;
    return std::filesystem::equivalent(a, b, ec);
}

bool usable(const std::filesystem::path& candidate,
            const std::optional<std::filesystem::path>& exclude) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(candidate, ec)) return false;
    return !exclude || !same_file(candidate, *exclude);
}

bool newer(const timespec& a, const timespec& b) {
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

std::string bundle_trailer(const std::filesystem::path& cert_path, const std::string& pem) {
    return "# Cloakroom CA (" + cert_path.string() + ")\n" + pem;
}

}  // namespace

std::optional<std::filesystem::path> find_system_roots(
    const std::optional<std::filesystem::path>& exclude) {
    std::vector<std::filesystem::path> candidates;
    if (const char* env = std::getenv(X509_get_default_cert_file_env()); env && *env) {
        candidates.emplace_back(env);
    }
    candidates.emplace_back(X509_get_default_cert_file());
    for (const char* path : {"/etc/ssl/certs/ca-certificates.crt",
                             "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
        candidates.emplace_back(path);
    }
    for (const auto& candidate : candidates) {
        if (usable(candidate, exclude)) return candidate;
    }
    return std::nullopt;
}

Result<std::filesystem::path> write_ca_bundle(const CertificateAuthority& ca,
                                              const std::filesystem::path& out) {
    const auto roots = find_system_roots(out);
    if (!roots) {
        return make_error(kBundleCode,
                          "no system CA bundle found (is the ca-certificates package installed? "
                          "SSL_CERT_FILE can name one)");
    }
    // Parsing every system root is most of the cost of `cloakroom env` and `cloakroom run`
    // (OpenSSL 3 decodes each public key): a bundle written since the roots and the CA last
    // changed is kept.
    if (bundle_is_current(ca, out, *roots)) return out;
    return write_ca_bundle(ca, out, *roots);
}

bool bundle_is_current(const CertificateAuthority& ca, const std::filesystem::path& out,
                       const std::filesystem::path& system_roots) {
    return bundle_is_current(ca.cert_path(), ca.cert_pem(), out, system_roots);
}

bool bundle_is_current(const std::filesystem::path& cert_path, const std::string& cert_pem,
                       const std::filesystem::path& out,
                       const std::filesystem::path& system_roots) {
    struct stat bundle {};
    struct stat roots {};
    struct stat cert {};
    if (::lstat(out.c_str(), &bundle) != 0 || !S_ISREG(bundle.st_mode) ||
        bundle.st_uid != ::geteuid() || (bundle.st_mode & 0022) != 0 ||
        ::stat(system_roots.c_str(), &roots) != 0 || ::stat(cert_path.c_str(), &cert) != 0) {
        return false;
    }
    // Strictly newer: a file changed in the same clock tick as the bundle was written is not
    // known to be in it.
    // The change times too: a file replaced by one with an old modification time (tar, cp -p)
    // has a new change time, which nobody can set back.
    for (const timespec& changed : {roots.st_mtim, roots.st_ctim, cert.st_mtim, cert.st_ctim}) {
        if (!newer(bundle.st_mtim, changed)) return false;
    }
    // ...and it ends with this CA (a CA directory swapped for an older one has an older ca.pem).
    auto text = read_small_file(out, kMaxBundleSize, kBundleCode);
    return text.ok() && text->ends_with(bundle_trailer(cert_path, cert_pem));
}

Result<std::filesystem::path> write_ca_bundle(const CertificateAuthority& ca,
                                              const std::filesystem::path& out,
                                              const std::filesystem::path& system_roots) {
    auto text = read_small_file(system_roots, kMaxBundleSize, kBundleCode);
    if (!text) return text.error();
    BioPtr in(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    BioPtr pem(BIO_new(BIO_s_mem()));
    if (!in || !pem) return openssl_error(kBundleCode, "cannot allocate buffers");

    std::size_t copied = 0;
    // X509_AUX also accepts "TRUSTED CERTIFICATE" blocks; plain X509 is written back, which every
    // client reads. Non-certificate blocks and comments are dropped.
    while (X509Ptr cert{PEM_read_bio_X509_AUX(in.get(), nullptr, nullptr, nullptr)}) {
        if (X509_cmp(cert.get(), ca.cert()) == 0) continue;  // a previous bundle fed back in
        if (PEM_write_bio_X509(pem.get(), cert.get()) != 1) {
            return openssl_error(kBundleCode, "cannot encode a root certificate");
        }
        ++copied;
    }
    ERR_clear_error();  // the loop ends with a "no start line" error by design
    if (copied == 0) {
        return make_error(kBundleCode, system_roots.string() + " holds no certificates");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(pem.get(), &data);
    std::string bundle(data, static_cast<std::size_t>(size));
    bundle += bundle_trailer(ca.cert_path(), ca.cert_pem());
    if (auto wrote = write_file_atomic(out, bundle, 0644, WriteMode::kReplace, kBundleCode);
        !wrote) {
        return wrote.error();
    }
    return out;
}

}  // namespace cloakroom::tls
