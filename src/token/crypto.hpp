// The few primitives the macaroon format needs (README §4–5), over OpenSSL 3.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::token::crypto {

inline constexpr std::size_t kTailSize = 32;
inline constexpr std::size_t kAeadKeySize = 32;
inline constexpr std::size_t kAeadNonceSize = 12;
inline constexpr std::size_t kAeadTagSize = 16;

std::string hmac_sha256(std::string_view key, std::string_view message);
std::string sha256(std::string_view data);

// Cryptographically random bytes (RAND_bytes); aborts the process if the CSPRNG fails, since
// every caller would otherwise mint guessable keys or nonces.
std::string random_bytes(std::size_t count);

// Constant-time equality (CRYPTO_memcmp); unequal lengths compare unequal.
bool equal(std::string_view a, std::string_view b);

// ChaCha20-Poly1305 (IETF), no associated data. Sealed form: nonce(12) || ciphertext || tag(16).
Result<std::string> seal(std::string_view key, std::string_view plaintext);
// Error code "token.crypto" when the key is not 32 bytes, the box is too short or the tag fails.
Result<std::string> open(std::string_view key, std::string_view sealed);

}  // namespace cloakroom::token::crypto
