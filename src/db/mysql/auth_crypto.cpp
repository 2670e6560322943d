#include "db/mysql/auth_crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <array>
#include <utility>

#include "tls/openssl_ptr.hpp"

namespace cloakroom::db::mysql {

namespace {

void wipe(std::string& bytes) {
    if (bytes.capacity() > 0) OPENSSL_cleanse(bytes.data(), bytes.capacity());
    bytes.clear();
}

// A digest that wipes itself.
template <std::size_t N>
struct Digest {
    std::array<unsigned char, N> bytes{};
    ~Digest() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

template <std::size_t N>
void digest(const EVP_MD* md, std::initializer_list<std::string_view> parts, Digest<N>& out) {
    const std::unique_ptr<EVP_MD_CTX, tls::OpenSslDeleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
    unsigned int length = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) std::abort();
    for (std::string_view part : parts) {
        if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) std::abort();
    }
    if (EVP_DigestFinal_ex(ctx.get(), out.bytes.data(), &length) != 1 || length != N) std::abort();
}

template <std::size_t N>
std::string_view view(const Digest<N>& d) {
    return {reinterpret_cast<const char*>(d.bytes.data()), N};
}

std::string_view nonce20(std::string_view nonce) {
    return nonce.substr(0, kNonceSize);
}

// "mysql.rsa" with OpenSSL's queued reasons (the queue is emptied, so a stale entry never gets
// blamed for a later failure on this thread).
Error rsa_error(std::string message) {
    std::string reasons;
    while (const unsigned long code = ERR_get_error()) {
        std::array<char, 256> text{};
        ERR_error_string_n(code, text.data(), text.size());
        if (!reasons.empty()) reasons += "; ";
        reasons += text.data();
    }
    if (!reasons.empty()) message += ": " + reasons;
    return make_error("mysql.rsa", std::move(message));
}

}  // namespace

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) {
    wipe(other.bytes_);
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
        wipe(bytes_);
        bytes_ = other.bytes_;
        wipe(other.bytes_);
    }
    return *this;
}

SecretBytes::~SecretBytes() {
    wipe(bytes_);
}

std::string make_nonce() {
    std::array<unsigned char, kNonceSize> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) std::abort();
    std::string out(kNonceSize, '\0');
    for (std::size_t i = 0; i < kNonceSize; ++i) {
        auto c = static_cast<unsigned char>(random[i] & 0x7F);
        if (c == 0 || c == '$') ++c;
        out[i] = static_cast<char>(c);
    }
    return out;
}

std::string native_password_scramble(std::string_view password, std::string_view nonce) {
    if (password.empty()) return {};
    Digest<20> stage1, stage2, mix;
    digest(EVP_sha1(), {password}, stage1);
    digest(EVP_sha1(), {view(stage1)}, stage2);
    digest(EVP_sha1(), {nonce20(nonce), view(stage2)}, mix);
    std::string out(20, '\0');
    for (std::size_t i = 0; i < 20; ++i) out[i] = static_cast<char>(stage1.bytes[i] ^ mix.bytes[i]);
    return out;
}

std::string caching_sha2_scramble(std::string_view password, std::string_view nonce) {
    if (password.empty()) return {};
    Digest<32> d1, d2, d3;
    digest(EVP_sha256(), {password}, d1);
    digest(EVP_sha256(), {view(d1)}, d2);
    digest(EVP_sha256(), {view(d2), nonce20(nonce)}, d3);
    std::string out(32, '\0');
    for (std::size_t i = 0; i < 32; ++i) out[i] = static_cast<char>(d1.bytes[i] ^ d3.bytes[i]);
    return out;
}

std::string xor_with_nonce(std::string_view data, std::string_view nonce) {
    std::string out(data);
    if (nonce.empty()) return out;
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<char>(out[i] ^ nonce[i % nonce.size()]);
    }
    return out;
}

Result<std::string> rsa_encrypt_password(std::string_view public_key_pem, std::string_view password,
                                         std::string_view nonce) {
    tls::BioPtr bio(
        BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())));
    if (!bio) return rsa_error("cannot read the server's public key");
    tls::EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
        return rsa_error("the server's public key is not an RSA key in PEM form");
    }
    tls::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1) {
        return rsa_error("cannot set up RSA-OAEP encryption");
    }
    std::string plain(password);
    plain.push_back('\0');
    std::string mixed = xor_with_nonce(plain, nonce20(nonce));
    wipe(plain);
    std::size_t length = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(mixed.data());
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &length, in, mixed.size()) != 1) {
        wipe(mixed);
        return rsa_error("RSA encryption failed");
    }
    std::string out(length, '\0');
    const int rc = EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                                    &length, in, mixed.size());
    wipe(mixed);
    if (rc != 1) {
        return rsa_error("RSA encryption failed (is the password too long for the key?)");
    }
    out.resize(length);
    return out;
}

Result<SecretBytes> rsa_decrypt_password(EVP_PKEY* key, std::string_view ciphertext,
                                         std::string_view nonce) {
    if (key == nullptr) return make_error("mysql.rsa", "no RSA key");
    if (ciphertext.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) {
        return make_error("mysql.rsa",
                          "the encrypted password has " + std::to_string(ciphertext.size()) +
                              " bytes, the key needs " + std::to_string(EVP_PKEY_get_size(key)));
    }
    tls::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
    if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1) {
        return rsa_error("cannot set up RSA-OAEP decryption");
    }
    const auto* in = reinterpret_cast<const unsigned char*>(ciphertext.data());
    std::size_t length = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &length, in, ciphertext.size()) != 1) {
        return rsa_error("RSA decryption failed");
    }
    std::string plain(length, '\0');
    if (EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &length, in,
                         ciphertext.size()) != 1) {
        wipe(plain);
        ERR_clear_error();
        return make_error("mysql.rsa",
                          "the encrypted password does not decrypt under Cloakroom's "
                          "key (OAEP check failed)");
    }
    plain.resize(length);
    std::string password = xor_with_nonce(plain, nonce20(nonce));
    wipe(plain);
    if (!password.empty() && password.back() == '\0') password.pop_back();
    SecretBytes out{std::string(password)};
    wipe(password);
    return out;
}

}  // namespace cloakroom::db::mysql
