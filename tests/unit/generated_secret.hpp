// Secret-like values made for one test run (random bytes from OpenSSL, hex-encoded), so that the
// tree holds no string shaped like a real provider key, and a test cannot pass by matching a
// fixed literal.
#pragma once

#include <openssl/rand.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "util/hex.hpp"

namespace cloakroom::test {

inline std::string generated_secret(std::string_view label = "canary") {
    unsigned char bytes[12];
    if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();
    return std::string(label) + "-" +
           hex_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

}  // namespace cloakroom::test
