#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>

#include "tls/ca_files.hpp"
#include "tls/openssl_error.hpp"
#include "tls/secure_files.hpp"
#include "tls/x509_build.hpp"

namespace cloakroom::tls {
namespace {

constexpr std::size_t kMaxPemSize = 64 * 1024;

Error ca_error(const std::string& message) {
    return make_error(kCaErrorCode, message);
}

// PEM passphrase callback that refuses: without it OpenSSL would prompt on the terminal for an
// encrypted key, blocking a server at start-up.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
    return -1;
}

std::string utc_text(std::int64_t unix_time) {
    const auto t = static_cast<std::time_t>(unix_time);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

Result<X509Ptr> parse_cert(const std::string& pem, const std::filesystem::path& path) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    if (!cert) {
        return ca_error(path.string() + " is not a PEM certificate (" + take_openssl_errors() +
                        "); restore it from a backup, or move the CA directory aside to create "
                        "a new CA");
    }
    return cert;
}

Result<EvpPkeyPtr> parse_key(std::string& pem, const std::filesystem::path& path) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                       : nullptr);
    OPENSSL_cleanse(pem.data(), pem.size());
    if (!key) {
        return ca_error(path.string() + " is not an unencrypted PEM private key (" +
                        take_openssl_errors() + ")");
    }
    return key;
}

Result<void> check_is_ca(X509* cert, const std::filesystem::path& path) {
    // Also fills the certificate's extension cache now, before other threads share it.
    const std::uint32_t flags = X509_get_extension_flags(cert);
    if ((flags & EXFLAG_INVALID) != 0) {
        return ca_error(path.string() + " has malformed extensions");
    }
    if ((flags & EXFLAG_CA) == 0) {
        return ca_error(path.string() +
                        " is not a CA certificate (basicConstraints CA:TRUE is missing); "
                        "Cloakroom needs a CA to sign leaf certificates");
    }
    if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
        return ca_error(path.string() +
                        " is a CA certificate without keyCertSign key usage; it "
                        "cannot sign leaf certificates");
    }
    return {};
}

}  // namespace

Result<LoadedCa> load_ca_files(const std::filesystem::path& cert_path,
                               const std::filesystem::path& key_path, std::int64_t now) {
    ERR_clear_error();
    auto cert_text = read_small_file(cert_path, kMaxPemSize, kCaErrorCode);
    if (!cert_text) return cert_text.error();
    auto cert = parse_cert(*cert_text, cert_path);
    if (!cert) return cert.error();

    auto key_text = read_private_file(key_path, kMaxPemSize, kCaErrorCode);
    if (!key_text) return key_text.error();
    auto key = parse_key(*key_text, key_path);
    if (!key) return key.error();

    if (X509_check_private_key(cert->get(), key->get()) != 1) {
        ERR_clear_error();
        return ca_error(key_path.string() + " does not belong to " + cert_path.string() +
                        " (their public keys differ); restore the matching pair, or move the "
                        "CA directory aside to create a new CA");
    }
    if (auto ca = check_is_ca(cert->get(), cert_path); !ca) return ca.error();

    const auto not_before = to_unix_time(X509_get0_notBefore(cert->get()));
    const auto not_after = to_unix_time(X509_get0_notAfter(cert->get()));
    if (!not_before || !not_after) {
        return ca_error(cert_path.string() + " has an unreadable validity period");
    }
    if (now > *not_after) {
        return ca_error(cert_path.string() + " expired on " + utc_text(*not_after) +
                        "; move the CA directory aside so a new CA is created, then trust the "
                        "new ca.pem in every client");
    }
    if (now < *not_before) {
        return ca_error(cert_path.string() + " is not valid until " + utc_text(*not_before) +
                        "; check the system clock");
    }
    return LoadedCa{std::move(*cert), std::move(*key), std::move(*cert_text), *not_after};
}

}  // namespace cloakroom::tls
