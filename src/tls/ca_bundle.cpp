#include "tls/ca_bundle.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

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
    return write_ca_bundle(ca, out, *roots);
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
    bundle += "# Cloakroom CA (" + ca.cert_path().string() + ")\n";
    bundle += ca.cert_pem();
    if (auto wrote = write_file_atomic(out, bundle, 0644, WriteMode::kReplace, kBundleCode);
        !wrote) {
        return wrote.error();
    }
    return out;
}

}  // namespace cloakroom::tls
