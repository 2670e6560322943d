// Base64 in the two flavours Cloakroom meets: standard alphabet with '=' padding (keys in files
// and environment variables) and URL-safe alphabet without padding (token text). Decoders are
// strict so that one byte string has exactly one accepted text form: characters outside the
// alphabet, wrong or misplaced padding, whitespace and non-zero unused trailing bits are errors.
#pragma once

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom {

std::string base64_encode(std::string_view bytes);     // standard alphabet, padded
std::string base64url_encode(std::string_view bytes);  // '-' and '_', no padding

// Errors: code "base64.invalid", message "illegal base64 data at input byte N".
Result<std::string> base64_decode(std::string_view text);
Result<std::string> base64url_decode(std::string_view text);

}  // namespace cloakroom
