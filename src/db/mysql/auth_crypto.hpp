// The cryptography of MySQL authentication: nonces, the mysql_native_password (SHA-1) and
// caching_sha2_password (SHA-256) scrambles, and the RSA-OAEP exchange caching_sha2_password uses
// without TLS. Pure apart from the random nonce.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::db::mysql {

// Bytes wiped (OPENSSL_cleanse) when destroyed or moved from: the agent's token and the login's
// password while a session holds them. No printing or formatting.
class SecretBytes {
  public:
    SecretBytes() = default;
    explicit SecretBytes(std::string bytes) : bytes_(std::move(bytes)) {}
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& other) noexcept;
    SecretBytes& operator=(SecretBytes&& other) noexcept;
    ~SecretBytes();

    std::string_view reveal() const { return bytes_; }
    bool empty() const { return bytes_.empty(); }

  private:
    std::string bytes_;
};

inline constexpr std::size_t kNonceSize = 20;

// 20 random bytes in 1..127 without '$', as MySQL servers make them (NUL-free, so they survive
// the greeting's NUL-terminated field).
std::string make_nonce();

// mysql_native_password: SHA1(password) XOR SHA1(nonce[0..20] + SHA1(SHA1(password))); "" for
// an empty password.
std::string native_password_scramble(std::string_view password, std::string_view nonce);

// caching_sha2_password fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)) +
// nonce[0..20]); "" for an empty password.
std::string caching_sha2_scramble(std::string_view password, std::string_view nonce);

// data[i] XOR nonce[i % nonce.size()] (data unchanged for an empty nonce).
std::string xor_with_nonce(std::string_view data, std::string_view nonce);

// The client side of caching_sha2_password's RSA exchange: RSA-OAEP (SHA-1, as every MySQL
// client and server uses) of (password + NUL) XOR nonce, under the server's PEM public key.
// Errors: "mysql.rsa".
Result<std::string> rsa_encrypt_password(std::string_view public_key_pem, std::string_view password,
                                         std::string_view nonce);

// The server side: decrypts with `key`, XORs with the nonce and drops the trailing NUL.
// Errors: "mysql.rsa" (wrong size, padding check failed).
Result<SecretBytes> rsa_decrypt_password(EVP_PKEY* key, std::string_view ciphertext,
                                         std::string_view nonce);

}  // namespace cloakroom::db::mysql
