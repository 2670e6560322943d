#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <array>

#include "tls/ca_files.hpp"
#include "tls/openssl_error.hpp"
#include "tls/secure_files.hpp"
#include "tls/x509_build.hpp"

namespace cloakroom::tls {
namespace {

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kCaLifetime = 10 * 365 * 24 * kHour + 3 * 24 * kHour;  // leap days

std::string ca_common_name() {
    std::array<char, 256> host{};
    if (::gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
        return "Cloakroom CA";
    }
    // The host name tells a user which machine's CA they are trusting when several exist.
    return "Cloakroom CA (" + std::string(host.data()) + ")";
}

Result<std::string> private_key_pem(EVP_PKEY* key) {
    // A secure-memory BIO is cleansed when freed, so no copy of the key lingers in the heap.
    BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return openssl_error(kCaErrorCode, "cannot encode the CA key");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

Result<X509Ptr> self_signed_ca(EVP_PKEY* key, std::int64_t now) {
    auto cert = new_certificate(key, kCaErrorCode);
    if (!cert) return cert.error();
    X509* x = cert->get();
    // An hour of slack covers clients whose clocks run behind ours.
    if (auto r = set_validity(x, now - kHour, now + kCaLifetime, kCaErrorCode); !r) {
        return r.error();
    }
    if (auto r = set_subject(x, ca_common_name(), "Cloakroom", kCaErrorCode); !r) return r.error();
    if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) {
        return openssl_error(kCaErrorCode, "cannot set the CA issuer");
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    // pathlen:0 — this CA signs leaves only; a leaked leaf key can never mint further certs.
    const std::array<std::pair<int, const char*>, 3> extensions{{
        {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
    }};
    for (const auto& [nid, value] : extensions) {
        if (auto r = add_extension(x, &ctx, nid, value, kCaErrorCode); !r) return r.error();
    }
    if (auto r = sign_certificate(x, key, kCaErrorCode); !r) return r.error();
    return cert;
}

}  // namespace

Result<void> create_ca_files(const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path, std::int64_t now) {
    EvpPkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) return openssl_error(kCaErrorCode, "cannot generate the CA key");
    auto cert = self_signed_ca(key.get(), now);
    if (!cert) return cert.error();
    auto cert_text = certificate_pem(cert->get(), kCaErrorCode);
    if (!cert_text) return cert_text.error();
    auto key_text = private_key_pem(key.get());
    if (!key_text) return key_text.error();

    // Key first: a crash between the two writes leaves ca.key without ca.pem, which load reports
    // instead of silently replacing a key some client may already trust.
    auto wrote_key =
        write_file_atomic(key_path, *key_text, 0600, WriteMode::kNoReplace, kCaErrorCode);
    OPENSSL_cleanse(key_text->data(), key_text->size());
    if (!wrote_key) return wrote_key.error();
    return write_file_atomic(cert_path, *cert_text, 0644, WriteMode::kNoReplace, kCaErrorCode);
}

}  // namespace cloakroom::tls
