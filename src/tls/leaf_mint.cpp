#include "tls/leaf_mint.hpp"

#include <algorithm>
#include <array>

#include "tls/openssl_error.hpp"
#include "tls/x509_build.hpp"

namespace cloakroom::tls {
namespace {

const std::string kLeafCode = "tls.leaf";

// `cert` encoded and parsed back: the same certificate, carrying its encoding.
Result<X509Ptr> reparse(X509* cert) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(cert, &der);
    if (length <= 0) return openssl_error(kLeafCode, "cannot encode the leaf");
    const unsigned char* cursor = der;
    X509Ptr parsed(d2i_X509(nullptr, &cursor, length));
    OPENSSL_free(der);
    if (!parsed) return openssl_error(kLeafCode, "cannot decode the leaf");
    return parsed;
}

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
    // Served from its DER form: a certificate built in memory has no cached encoding, so
    // OpenSSL would re-encode all of it twice per handshake (length, then bytes) when sending
    // the Certificate message; one parsed from DER keeps the signed bytes and copies them.
    auto parsed = reparse(x);
    if (!parsed) return parsed.error();
    // Fill the lazily computed extension cache now, while only this thread sees the cert.
    X509_check_purpose(parsed->get(), -1, 0);
    return Leaf{std::move(*parsed), key, not_after, not_before, host.name};
}

}  // namespace cloakroom::tls
