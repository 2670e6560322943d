// Cloakroom's own RSA key for caching_sha2_password's key exchange with agents' clients that
// have no TLS: the client asks for the public key, encrypts its password (the token) with it,
// and Cloakroom decrypts. One key per process, made at start-up in the background (see
// start_mysql_key_generation in db/session.hpp); it never leaves memory.
#pragma once

#include <memory>
#include <string>

#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"

namespace cloakroom::db::mysql {

struct RsaKey {
    tls::EvpPkeyPtr key;
    std::string public_pem;  // SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"), as MySQL servers send
};

// A fresh RSA key of `bits` bits. Errors: "mysql.rsa".
Result<std::shared_ptr<const RsaKey>> generate_rsa_key(int bits);

// RSA-OAEP (SHA-1) under a 4096-bit key carries up to 470 bytes: tokens with several caveats
// outgrow the 214 of a 2048-bit key.
inline constexpr int kProcessKeyBits = 4096;

// The process key (kProcessKeyBits), generated once by the first caller (which blocks for up to
// a second or two: call it off the I/O threads); thread-safe. A failed generation is retried by
// the next caller.
Result<std::shared_ptr<const RsaKey>> process_rsa_key();

// Whether the process key exists (process_rsa_key() then returns at once).
bool process_rsa_key_ready();

}  // namespace cloakroom::db::mysql
