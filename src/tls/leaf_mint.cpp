#include "tls/leaf_mint.hpp"

#include <algorithm>
#include <array>

#include "tls/openssl_error.hpp"
#include "tls/x509_build.hpp"

namespace cloakroom::tls {
namespace {

const std::string kLeafCode = "tls.leaf";

}  // namespace

Result<Leaf> mint_leaf(const CertificateAuthority& ca, const TlsHost& host,
                       const std::shared_ptr<EVP_PKEY>& key, std::int64_t now,
                       std::int64_t validity) {
    if (now >= ca.not_after()) {
        return make_error(kLeafCode, "the Cloakroom CA " + ca.cert_path().string() +
                                         " has expired; no leaf can be minted");
    }
    const std::int64_t not_before = now - kLeafBackdate;
    // A leaf outliving its CA would be rejected by strict clients anyway.
    const std::int64_t not_after = std::min(now + validity, ca.not_after());

    auto cert = new_certificate(key.get(), kLeafCode);
    if (!cert) return cert.error();
    X509* x = cert->get();
    if (auto r = set_validity(x, not_before, not_after, kLeafCode); !r) return r.error();
    if (auto r = set_subject(x, host.name, std::nullopt, kLeafCode); !r) return r.error();
    if (X509_set_issuer_name(x, X509_get_subject_name(ca.cert())) != 1) {
        return openssl_error(kLeafCode, "cannot set the leaf issuer");
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca.cert(), x, nullptr, nullptr, 0);
    // Python 3.13+ verifies with X509_V_FLAG_X509_STRICT, which wants AKI on leaves; keyUsage
    // digitalSignature is all ECDHE-ECDSA needs.
    const std::array<std::pair<int, const char*>, 5> extensions{{
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    }};
    for (const auto& [nid, value] : extensions) {
        if (auto r = add_extension(x, &ctx, nid, value, kLeafCode); !r) return r.error();
    }
    if (auto r = add_subject_alt_name(x, host, kLeafCode); !r) return r.error();
    if (auto r = sign_certificate(x, ca.key(), kLeafCode); !r) return r.error();
    // Fill the lazily computed extension cache now, while only this thread sees the cert.
    X509_check_purpose(x, -1, 0);
    return Leaf{std::move(*cert), key, not_after, not_before, host.name};
}

}  // namespace cloakroom::tls
