#include "token/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
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

// One-shot HMAC()/SHA256() fetch the algorithm (under global locks) and allocate a context on
// every call, which dominated token verification. The algorithms are fetched once and each
// thread keeps one context that is re-keyed per call.
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

EVP_MAC_CTX* thread_hmac_ctx() {
    static EVP_MAC* const kMac = [] {
        EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (mac == nullptr) std::abort();
        return mac;
    }();
    thread_local const std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx = [] {
        std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> made(EVP_MAC_CTX_new(kMac));
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end()};
        if (!made || EVP_MAC_CTX_set_params(made.get(), params) != 1) std::abort();
        return made;
    }();
    return ctx.get();
}

EVP_MD_CTX* thread_sha256_ctx(const EVP_MD*& md) {
    static EVP_MD* const kMd = [] {
        EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        if (fetched == nullptr) std::abort();
        return fetched;
    }();
    thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx) std::abort();
    md = kMd;
    return ctx.get();
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
    std::string out(kTailSize, '\0');
    EVP_MAC_CTX* ctx = thread_hmac_ctx();
    std::size_t size = 0;
    // A non-null key re-keys the context and resets its state (the digest stays set).
    if (EVP_MAC_init(ctx, bytes_of(key), key.size(), nullptr) != 1 ||
        EVP_MAC_update(ctx, bytes_of(message), message.size()) != 1 ||
        EVP_MAC_final(ctx, bytes_of(out), &size, out.size()) != 1 || size != kTailSize) {
        std::abort();  // only fails on allocation failure inside OpenSSL
    }
    return out;
}

std::string sha256(std::string_view data) {
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    const EVP_MD* md = nullptr;
    EVP_MD_CTX* ctx = thread_sha256_ctx(md);
    unsigned int size = 0;
    if (EVP_DigestInit_ex(ctx, md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx, bytes_of(data), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx, bytes_of(out), &size) != 1 || size != SHA256_DIGEST_LENGTH) {
        std::abort();
    }
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
