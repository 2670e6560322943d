// The two halves of CertificateAuthority that touch key material: generating a new CA into
// files, and loading + validating existing files. Internal to the tls module.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

inline const std::string kCaErrorCode = "tls.ca";

// Generates a CA key and self-signed certificate valid from `now` - 1 h for 10 years and writes
// the key (0600) and then the certificate (0644), each atomically and never over an existing file.
Result<void> create_ca_files(const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path, std::int64_t now);

struct LoadedCa {
    X509Ptr cert;
    EvpPkeyPtr key;
    std::string pem;
    std::int64_t not_after = 0;
};

// Reads both files and checks: PEM parses, the key file is private, key and certificate belong
// together, the certificate is a CA allowed to sign certificates, and `now` is inside its
// validity period.
Result<LoadedCa> load_ca_files(const std::filesystem::path& cert_path,
                               const std::filesystem::path& key_path, std::int64_t now);

}  // namespace cloakroom::tls
