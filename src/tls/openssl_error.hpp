// Turns OpenSSL's thread-local error queue into text for Error messages. OpenSSL reports why
// something failed only through that queue; reading it also empties it, so a stale entry never
// gets blamed for a later, unrelated failure on the same thread.
#pragma once

#include <string>

#include "util/result.hpp"

namespace cloakroom::tls {

// "reason; reason" for every queued error (oldest first), or "no OpenSSL error reported". Clears
// the queue.
std::string take_openssl_errors();

// make_error(code, message + ": " + take_openssl_errors()).
Error openssl_error(std::string code, std::string message);

}  // namespace cloakroom::tls
