#include "db/mysql/rsa_key.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <atomic>
#include <mutex>

namespace cloakroom::db::mysql {

namespace {

Error key_error(std::string message) {
    if (const unsigned long code = ERR_get_error()) {
        char text[256] = {};
        ERR_error_string_n(code, text, sizeof text);
        message += std::string(": ") + text;
    }
    ERR_clear_error();
    return make_error("mysql.rsa", std::move(message));
}

}  // namespace

Result<std::shared_ptr<const RsaKey>> generate_rsa_key(int bits) {
    tls::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
    if (!key) return key_error("cannot generate an RSA key");
    tls::BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
        return key_error("cannot encode the RSA public key");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    if (size <= 0 || data == nullptr) return key_error("cannot encode the RSA public key");
    auto out = std::make_shared<RsaKey>();
    out->public_pem.assign(data, static_cast<std::size_t>(size));
    out->key = std::move(key);
    return std::shared_ptr<const RsaKey>(std::move(out));
}

namespace {

std::atomic<bool> process_key_made{false};

}  // namespace

Result<std::shared_ptr<const RsaKey>> process_rsa_key() {
    static std::mutex mutex;
    static std::shared_ptr<const RsaKey> key;
    std::lock_guard lock(mutex);
    if (!key) {
        auto made = generate_rsa_key(kProcessKeyBits);
        if (!made) return made.error();
        key = std::move(*made);
        process_key_made.store(true, std::memory_order_release);
    }
    return key;
}

bool process_rsa_key_ready() {
    return process_key_made.load(std::memory_order_acquire);
}

}  // namespace cloakroom::db::mysql
