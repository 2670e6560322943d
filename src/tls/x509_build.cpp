#include "tls/x509_build.hpp"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <ctime>

#include "tls/openssl_error.hpp"

namespace cloakroom::tls {
namespace {

constexpr std::size_t kSerialBytes = 16;
constexpr std::size_t kMaxCommonName = 64;  // ub-common-name in RFC 5280

}  // namespace

Result<X509Ptr> new_certificate(EVP_PKEY* public_key, const std::string& code) {
    X509Ptr cert(X509_new());
    if (!cert) return openssl_error(code, "cannot allocate a certificate");
    std::array<unsigned char, kSerialBytes> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        return openssl_error(code, "cannot generate a serial number");
    }
    // Positive (top bit clear) and a full 16 bytes long (next bit set): unpredictable serials
    // are what keeps chosen-prefix collisions off the table, and a fixed length keeps DER stable.
    bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
    BignumPtr serial(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
    if (!serial) return openssl_error(code, "cannot build a serial number");
    Asn1IntegerPtr asn1_serial(BN_to_ASN1_INTEGER(serial.get(), nullptr));
    if (!asn1_serial || X509_set_serialNumber(cert.get(), asn1_serial.get()) != 1 ||
        X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
        X509_set_pubkey(cert.get(), public_key) != 1) {
        return openssl_error(code, "cannot initialise a certificate");
    }
    return cert;
}

Result<void> set_validity(X509* cert, std::int64_t not_before, std::int64_t not_after,
                          const std::string& code) {
    if (ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(not_before)) == nullptr ||
        ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(not_after)) == nullptr) {
        return openssl_error(code, "cannot set the validity period");
    }
    return {};
}

Result<void> set_subject(X509* cert, std::string_view common_name,
                         std::optional<std::string_view> organization, const std::string& code) {
    X509NamePtr name(X509_NAME_new());
    if (!name) return openssl_error(code, "cannot allocate a name");
    const auto add = [&](const char* field, std::string_view value) {
        return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(value.data()),
                                          static_cast<int>(value.size()), -1, 0) == 1;
    };
    if (organization && !add("O", *organization)) {
        return openssl_error(code, "cannot set the organization");
    }
    if (!add("CN", common_name.substr(0, kMaxCommonName))) {
        return openssl_error(code, "cannot set the common name");
    }
    // X509_set_subject_name copies, so `name` is still ours to free.
    if (X509_set_subject_name(cert, name.get()) != 1) {
        return openssl_error(code, "cannot set the subject name");
    }
    return {};
}

Result<void> add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value,
                           const std::string& code) {
    X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
    if (!ext) {
        return openssl_error(code, std::string("cannot build extension ") + OBJ_nid2sn(nid));
    }
    // X509_add_ext copies the extension.
    if (X509_add_ext(cert, ext.get(), -1) != 1) {
        return openssl_error(code, std::string("cannot add extension ") + OBJ_nid2sn(nid));
    }
    return {};
}

Result<void> add_subject_alt_name(X509* cert, const TlsHost& host, const std::string& code) {
    GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) return openssl_error(code, "cannot allocate a subject alternative name");
    if (host.is_ip) {
        std::array<unsigned char, 16> bytes{};
        const bool v6 = host.name.find(':') != std::string::npos;
        if (::inet_pton(v6 ? AF_INET6 : AF_INET, host.name.c_str(), bytes.data()) != 1) {
            return make_error(code, "not an IP address: " + host.name);
        }
        Asn1StringPtr ip(ASN1_OCTET_STRING_new());
        if (!ip || ASN1_OCTET_STRING_set(ip.get(), bytes.data(), v6 ? 16 : 4) != 1) {
            return openssl_error(code, "cannot encode an IP address");
        }
        GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip.release());
    } else {
        Asn1StringPtr dns(ASN1_IA5STRING_new());
        if (!dns ||
            ASN1_STRING_set(dns.get(), host.name.data(), static_cast<int>(host.name.size())) != 1) {
            return openssl_error(code, "cannot encode a DNS name");
        }
        GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns.release());
    }
    GeneralNamesPtr names(GENERAL_NAMES_new());
    if (!names || sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
        return openssl_error(code, "cannot build the subject alternative names");
    }
    name.release();  // now owned by `names`
    // A SAN is critical only when the subject is empty; ours always has a CN.
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
        return openssl_error(code, "cannot add the subject alternative name");
    }
    return {};
}

Result<void> sign_certificate(X509* cert, EVP_PKEY* key, const std::string& code) {
    const int type = EVP_PKEY_get_base_id(key);
    const EVP_MD* digest =
        (type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
    if (X509_sign(cert, key, digest) <= 0) return openssl_error(code, "cannot sign certificate");
    return {};
}

std::optional<std::int64_t> to_unix_time(const ASN1_TIME* time) {
    std::tm tm{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
    return static_cast<std::int64_t>(::timegm(&tm));
}

Result<std::string> certificate_pem(X509* cert, const std::string& code) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
        return openssl_error(code, "cannot encode a certificate as PEM");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace cloakroom::tls
