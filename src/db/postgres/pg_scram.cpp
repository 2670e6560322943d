#include "db/postgres/pg_scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include <array>
#include <vector>

#include "util/base64.hpp"
#include "util/hex.hpp"

namespace cloakroom::db::postgres {

namespace {

constexpr std::size_t kKeySize = 32;  // SHA-256
using Key = std::array<unsigned char, kKeySize>;

// Wipes a key when it goes out of scope.
struct KeyGuard {
    Key& key;
    ~KeyGuard() { OPENSSL_cleanse(key.data(), key.size()); }
};

Error scram_error(std::string message) {
    return make_error("pg.scram", "SCRAM authentication: " + std::move(message));
}

std::string md5_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr);
    return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

Key hmac(const unsigned char* key, std::size_t key_size, std::string_view data) {
    Key out{};
    unsigned int size = 0;
    HMAC(EVP_sha256(), key, static_cast<int>(key_size),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &size);
    return out;
}

Key sha256(const Key& data) {
    Key out{};
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr);
    return out;
}

std::string_view as_text(const Key& key) {
    return std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
}

// "a=value" at the start of `part`.
bool has_attribute(std::string_view part, char name) {
    return part.size() >= 2 && part[0] == name && part[1] == '=';
}

std::vector<std::string_view> split_commas(std::string_view text) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const auto comma = text.find(',', start);
        if (comma == std::string_view::npos) {
            parts.push_back(text.substr(start));
            return parts;
        }
        parts.push_back(text.substr(start, comma - start));
        start = comma + 1;
    }
}

// RFC 5802 printable: %x21-2B / %x2D-7E (no comma).
bool valid_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (char c : nonce) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u > 0x7e || c == ',') return false;
    }
    return true;
}

std::string escape_sasl_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '=') {
            out += "=3D";
        } else if (c == ',') {
            out += "=2C";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt) {
    std::string inner(password);
    inner.append(user);
    std::string first = md5_hex(inner);
    OPENSSL_cleanse(inner.data(), inner.size());
    first.append(salt);
    std::string response = "md5" + md5_hex(first);
    OPENSSL_cleanse(first.data(), first.size());
    return response;
}

Result<ScramServerFirst> parse_scram_server_first(std::string_view message) {
    const auto parts = split_commas(message);
    if (!parts.empty() && has_attribute(parts[0], 'm')) {
        return scram_error("the server requires an unsupported extension");
    }
    if (parts.size() < 3 || !has_attribute(parts[0], 'r') || !has_attribute(parts[1], 's') ||
        !has_attribute(parts[2], 'i')) {
        return scram_error("malformed server-first-message (expected r=,s=,i=)");
    }
    ScramServerFirst first;
    first.nonce = std::string(parts[0].substr(2));
    if (!valid_nonce(first.nonce)) return scram_error("invalid nonce in server-first-message");
    auto salt = base64_decode(parts[1].substr(2));
    if (!salt || salt->empty()) return scram_error("invalid salt in server-first-message");
    first.salt = std::move(*salt);
    const auto digits = parts[2].substr(2);
    if (digits.empty() || digits.size() > 10 || digits[0] == '0') {
        return scram_error("invalid iteration count in server-first-message");
    }
    std::uint64_t iterations = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return scram_error("invalid iteration count in server-first-message");
        iterations = iterations * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (iterations > kMaxScramIterations) {
        return scram_error("iteration count " + std::to_string(iterations) +
                           " exceeds the limit of " + std::to_string(kMaxScramIterations));
    }
    first.iterations = static_cast<std::uint32_t>(iterations);
    for (std::size_t i = 3; i < parts.size(); ++i) {
        // Extensions: "x=..." with a letter name; anything else is malformed.
        const auto part = parts[i];
        if (part.size() < 2 || part[1] != '=' ||
            !((part[0] >= 'a' && part[0] <= 'z') || (part[0] >= 'A' && part[0] <= 'Z'))) {
            return scram_error("malformed attribute in server-first-message");
        }
    }
    return first;
}

Result<std::string> parse_scram_server_final(std::string_view message) {
    const auto parts = split_commas(message);
    if (has_attribute(parts[0], 'e')) {
        std::string reason(parts[0].substr(2));
        if (reason.size() > 64) reason.resize(64);
        for (char& c : reason) {
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u > 0x7e) c = '?';
        }
        return scram_error("the server reported \"" + reason + "\"");
    }
    if (!has_attribute(parts[0], 'v')) {
        return scram_error("malformed server-final-message (expected v=)");
    }
    auto signature = base64_decode(parts[0].substr(2));
    if (!signature || signature->size() != kKeySize) {
        return scram_error("invalid server signature encoding in server-final-message");
    }
    return std::move(*signature);
}

Result<std::string> tls_server_end_point(X509* certificate) {
    if (certificate == nullptr) return scram_error("no server certificate for channel binding");
    int md_nid = NID_undef;
    if (X509_get_signature_info(certificate, &md_nid, nullptr, nullptr, nullptr) != 1 ||
        md_nid == NID_undef) {
        return scram_error(
            "the server certificate's signature algorithm has no hash for channel binding");
    }
    if (md_nid == NID_md5 || md_nid == NID_sha1) md_nid = NID_sha256;
    const EVP_MD* md = EVP_get_digestbynid(md_nid);
    if (md == nullptr) return scram_error("unsupported certificate hash for channel binding");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (X509_digest(certificate, md, digest, &size) != 1) {
        return scram_error("cannot hash the server certificate for channel binding");
    }
    return std::string(reinterpret_cast<const char*>(digest), size);
}

Result<std::string> make_scram_nonce() {
    unsigned char raw[18];
    if (RAND_bytes(raw, sizeof raw) != 1) return scram_error("no random bytes for the nonce");
    return base64_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

ScramClient::ScramClient(std::string_view user, std::string_view password, std::string client_nonce,
                         Binding binding, std::string binding_data)
    : user_(user),
      password_(password),
      client_nonce_(std::move(client_nonce)),
      binding_(binding),
      binding_data_(std::move(binding_data)) {}

ScramClient::~ScramClient() {
    OPENSSL_cleanse(password_.data(), password_.size());
    OPENSSL_cleanse(expected_server_signature_.data(), expected_server_signature_.size());
}

std::string_view ScramClient::mechanism() const {
    return binding_ == Binding::ServerEndPoint ? kScramSha256Plus : kScramSha256;
}

std::string ScramClient::client_first_bare() const {
    return "n=" + escape_sasl_name(user_) + ",r=" + client_nonce_;
}

std::string ScramClient::client_first() const {
    std::string gs2;
    switch (binding_) {
        case Binding::None:
            gs2 = "n,,";
            break;
        case Binding::NotAdvertised:
            gs2 = "y,,";
            break;
        case Binding::ServerEndPoint:
            gs2 = "p=tls-server-end-point,,";
            break;
    }
    return gs2 + client_first_bare();
}

Result<std::string> ScramClient::client_final(std::string_view server_first) {
    auto first = parse_scram_server_first(server_first);
    if (!first) return first.error();
    if (first->nonce.size() <= client_nonce_.size() || !first->nonce.starts_with(client_nonce_)) {
        return scram_error("the server's nonce does not extend the client's");
    }

    const std::string full_first = client_first();
    std::string binding_input =
        full_first.substr(0, full_first.size() - client_first_bare().size());
    if (binding_ == Binding::ServerEndPoint) binding_input += binding_data_;
    const std::string without_proof = "c=" + base64_encode(binding_input) + ",r=" + first->nonce;
    const std::string auth_message =
        client_first_bare() + "," + std::string(server_first) + "," + without_proof;

    Key salted{};
    KeyGuard salted_guard{salted};
    if (PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                          reinterpret_cast<const unsigned char*>(first->salt.data()),
                          static_cast<int>(first->salt.size()), static_cast<int>(first->iterations),
                          EVP_sha256(), static_cast<int>(salted.size()), salted.data()) != 1) {
        return scram_error("key derivation failed");
    }
    Key client_key = hmac(salted.data(), salted.size(), "Client Key");
    KeyGuard client_key_guard{client_key};
    Key stored_key = sha256(client_key);
    KeyGuard stored_key_guard{stored_key};
    Key client_signature = hmac(stored_key.data(), stored_key.size(), auth_message);
    KeyGuard client_signature_guard{client_signature};
    Key proof{};
    KeyGuard proof_guard{proof};
    for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ client_signature[i];
    Key server_key = hmac(salted.data(), salted.size(), "Server Key");
    KeyGuard server_key_guard{server_key};
    const Key server_signature = hmac(server_key.data(), server_key.size(), auth_message);
    expected_server_signature_ = std::string(as_text(server_signature));

    return without_proof + ",p=" + base64_encode(as_text(proof));
}

Result<void> ScramClient::verify_server_final(std::string_view server_final) const {
    if (expected_server_signature_.empty()) {
        return scram_error("server-final-message before server-first-message");
    }
    auto signature = parse_scram_server_final(server_final);
    if (!signature) return signature.error();
    if (CRYPTO_memcmp(signature->data(), expected_server_signature_.data(), kKeySize) != 0) {
        return scram_error("the server's signature is wrong: it does not know the password");
    }
    return {};
}

}  // namespace cloakroom::db::postgres
