// Small building blocks shared by CA creation and leaf minting. Each wraps one OpenSSL call
// sequence whose failure modes are easy to get wrong (0 vs 1 returns, ownership of added
// objects) so the callers read as a list of certificate properties.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tls/host_name.hpp"
#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

// A fresh X509 v3 certificate with a random positive 16-byte serial and the given public key.
Result<X509Ptr> new_certificate(EVP_PKEY* public_key, const std::string& code);

// notBefore/notAfter from Unix seconds.
Result<void> set_validity(X509* cert, std::int64_t not_before, std::int64_t not_after,
                          const std::string& code);

// Subject name from CN (truncated to 64 characters, the X.520 upper bound) and optional O.
Result<void> set_subject(X509* cert, std::string_view common_name,
                         std::optional<std::string_view> organization, const std::string& code);

// One extension in openssl.cnf syntax ("critical,CA:TRUE"). `ctx` supplies issuer and subject
// for "hash"/"keyid" values. Only for fixed values: host names go through add_subject_alt_name.
Result<void> add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value,
                           const std::string& code);

// subjectAltName with one DNS name or IP address, built as ASN.1 (no config-string parsing, so
// no host can smuggle in a second name).
Result<void> add_subject_alt_name(X509* cert, const TlsHost& host, const std::string& code);

// Signs with SHA-256, or with no digest for Ed25519/Ed448 keys (they hash internally).
Result<void> sign_certificate(X509* cert, EVP_PKEY* key, const std::string& code);

// Unix seconds of an ASN1_TIME, or nullopt if it cannot be represented.
std::optional<std::int64_t> to_unix_time(const ASN1_TIME* time);

// PEM text of a certificate.
Result<std::string> certificate_pem(X509* cert, const std::string& code);

}  // namespace cloakroom::tls
