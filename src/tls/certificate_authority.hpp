// Cloakroom's own certificate authority: the key that signs the leaf certificates presented to
// agents when their TLS is intercepted. Whoever holds ca.key can impersonate any site to every
// client that trusts ca.pem, so the key is created owner-only, never overwritten, and refused on
// load when anyone else could read or swap it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

inline constexpr const char* kCaCertFile = "ca.pem";
inline constexpr const char* kCaKeyFile = "ca.key";

class CertificateAuthority {
    struct Private {};  // keeps construction inside load_or_create

  public:
    // Loads dir/ca.pem + dir/ca.key, or creates both when neither exists: ECDSA P-256,
    // self-signed, valid 10 years (from 1 hour ago), basicConstraints critical CA:TRUE
    // pathlen:0, keyUsage critical keyCertSign+cRLSign, subjectKeyIdentifier, subject
    // CN "Cloakroom CA (<hostname>)" O "Cloakroom". The directory is created 0700 (with
    // parents), the key 0600 via O_CREAT|O_EXCL and moved into place atomically; concurrent
    // callers are serialised by a lock on the directory. Errors (code "tls.ca"): only one of the
    // two files exists, unreadable or corrupt PEM, a key that is a symlink or accessible by group
    // or others, a key that does not match the certificate, a certificate that is not a CA or
    // is outside its validity period.
    static Result<std::shared_ptr<const CertificateAuthority>> load_or_create(
        const std::filesystem::path& dir);

    // Like load_or_create, but never creates anything (for commands that only read the CA).
    static Result<std::shared_ptr<const CertificateAuthority>> load(
        const std::filesystem::path& dir);

    CertificateAuthority(Private, std::filesystem::path dir, X509Ptr cert, EvpPkeyPtr key,
                         std::string pem, std::int64_t not_after, bool created);

    const std::filesystem::path& dir() const { return dir_; }
    const std::filesystem::path& cert_path() const { return cert_path_; }
    const std::filesystem::path& key_path() const { return key_path_; }
    std::string cert_pem() const { return pem_; }
    // Borrowed handles, valid for the lifetime of this object. Safe to use from several threads
    // for reading and signing (extension caches are filled at load time).
    X509* cert() const { return cert_.get(); }
    EVP_PKEY* key() const { return key_.get(); }
    std::int64_t not_after() const { return not_after_; }  // Unix seconds
    // True when this call created the CA (the caller should tell the user to trust it).
    bool created() const { return created_; }

  private:
    static Result<std::shared_ptr<const CertificateAuthority>> open(
        const std::filesystem::path& dir, bool may_create);

    std::filesystem::path dir_;
    std::filesystem::path cert_path_;
    std::filesystem::path key_path_;
    X509Ptr cert_;
    EvpPkeyPtr key_;
    std::string pem_;
    std::int64_t not_after_ = 0;
    bool created_ = false;
};

}  // namespace cloakroom::tls
