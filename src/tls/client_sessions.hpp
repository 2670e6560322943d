// Client-side TLS session resumption. OpenSSL's client "session cache" only announces new
// sessions; offering one again is up to the application. This keeps the latest session per
// verified host inside the SSL_CTX (ex_data, freed with the context) and the verification target
// of each SSL (ex_data), so resumption is never offered to a different host. Internal.
#pragma once

#include <string>

#include <openssl/ssl.h>

#include "util/result.hpp"

namespace cloakroom::tls {

Result<void> enable_client_sessions(SSL_CTX* ctx);

// Records `target` (the verified host/IP) on `ssl` and offers the cached session for it, if any.
Result<void> attach_client_target(SSL* ssl, const std::string& target);

// The target recorded by attach_client_target, or nullptr.
const std::string* client_target(const SSL* ssl);

}  // namespace cloakroom::tls
