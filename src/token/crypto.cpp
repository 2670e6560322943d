#include "token/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <memory>

namespace cloakroom::token::crypto {
namespace {

struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const unsigned char* bytes_of(std::string_view s) {
    static const unsigned char kEmpty = 0;  // OpenSSL wants a non-null pointer even for size 0
    return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* bytes_of(std::string& s) {
    return reinterpret_cast<unsigned char*>(s.data());
}

Error crypto_error(std::string message) {
    return make_error("token.crypto", std::move(message));
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
    std::string out(kTailSize, '\0');
    unsigned int size = 0;
    if (HMAC(EVP_sha256(), bytes_of(key), static_cast<int>(key.size()), bytes_of(message),
             message.size(), bytes_of(out), &size) == nullptr ||
        size != kTailSize) {
        std::abort();  // only fails on allocation failure inside OpenSSL
    }
    return out;
}

std::string sha256(std::string_view data) {
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    SHA256(bytes_of(data), data.size(), bytes_of(out));
    return out;
}

std::string random_bytes(std::size_t count) {
    std::string out(count, '\0');
    if (count > 0 && RAND_bytes(bytes_of(out), static_cast<int>(count)) != 1) std::abort();
    return out;
}

bool equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

Result<std::string> seal(std::string_view key, std::string_view plaintext) {
    if (key.size() != kAeadKeySize) return crypto_error("encryption key must be 32 bytes");
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    const std::string nonce = random_bytes(kAeadNonceSize);
    std::string out = nonce;
    out.resize(kAeadNonceSize + plaintext.size() + kAeadTagSize);
    unsigned char* cipher = bytes_of(out) + kAeadNonceSize;
    int written = 0;
    int final_written = 0;
    if (!ctx ||
        EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, bytes_of(key),
                           bytes_of(nonce)) != 1 ||
        EVP_EncryptUpdate(ctx.get(), cipher, &written, bytes_of(plaintext),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), cipher + written, &final_written) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagSize),
                            cipher + plaintext.size()) != 1) {
        return crypto_error("ChaCha20-Poly1305 encryption failed");
    }
    return out;
}

Result<std::string> open(std::string_view key, std::string_view sealed) {
    if (key.size() != kAeadKeySize) return crypto_error("encryption key must be 32 bytes");
    if (sealed.size() < kAeadNonceSize + kAeadTagSize) {
        return crypto_error("sealed box too short");
    }
    const std::string_view nonce = sealed.substr(0, kAeadNonceSize);
    const std::string_view cipher =
        sealed.substr(kAeadNonceSize, sealed.size() - kAeadNonceSize - kAeadTagSize);
    std::string tag(sealed.substr(sealed.size() - kAeadTagSize));
    std::string plain(cipher.size(), '\0');
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int written = 0;
    int final_written = 0;
    unsigned char scratch[1];
    unsigned char* plain_out = plain.empty() ? scratch : bytes_of(plain);
    if (!ctx ||
        EVP_DecryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, bytes_of(key),
                           bytes_of(nonce)) != 1 ||
        EVP_DecryptUpdate(ctx.get(), plain_out, &written, bytes_of(cipher),
                          static_cast<int>(cipher.size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagSize),
                            bytes_of(tag)) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), plain_out + written, &final_written) != 1) {
        OPENSSL_cleanse(plain.data(), plain.size());
        return crypto_error("message authentication failed");
    }
    return plain;
}

}  // namespace cloakroom::token::crypto
