// A trust bundle for clients whose CA setting REPLACES their trust store (SSL_CERT_FILE,
// REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO): the system roots plus Cloakroom's CA, so
// intercepted hosts verify and hosts reached directly (NO_PROXY) still do too.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "tls/certificate_authority.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

// The system root bundle: $SSL_CERT_FILE if set, else OpenSSL's default cert file, else the
// usual distribution paths (/etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt,
// /etc/ssl/cert.pem). `exclude` (the bundle being written) is skipped, so an agent shell whose
// SSL_CERT_FILE already points at the Cloakroom bundle does not feed it back into itself.
std::optional<std::filesystem::path> find_system_roots(
    const std::optional<std::filesystem::path>& exclude = std::nullopt);

// Writes `out` = every certificate of the system bundle (re-encoded as PEM, any earlier copy of
// this CA dropped) + this CA, atomically, mode 0644. Returns `out`. Leaves `out` as it is when
// bundle_is_current() (the same content would be written). Errors (code "tls.bundle"): no
// system bundle found, none of its entries parse, the write fails.
Result<std::filesystem::path> write_ca_bundle(const CertificateAuthority& ca,
                                              const std::filesystem::path& out);

// Whether `out` is a bundle of ours written after `system_roots` and the CA certificate last
// changed, ending with this CA: a regular file owned by this user, writable by no one else.
bool bundle_is_current(const CertificateAuthority& ca, const std::filesystem::path& out,
                       const std::filesystem::path& system_roots);
// The same for the CA certificate at `cert_path` with PEM text `cert_pem`, without loading the CA
// (its key): what `cloakroom run` checks before deciding it needs the CA at all.
bool bundle_is_current(const std::filesystem::path& cert_path, const std::string& cert_pem,
                       const std::filesystem::path& out, const std::filesystem::path& system_roots);

// Always writes, reading the roots from `system_roots` (tests, or a deliberately chosen bundle).
Result<std::filesystem::path> write_ca_bundle(const CertificateAuthority& ca,
                                              const std::filesystem::path& out,
                                              const std::filesystem::path& system_roots);

}  // namespace cloakroom::tls
