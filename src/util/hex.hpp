// Lower-case hexadecimal, for ids in logs and JSON (never for secrets).
#pragma once

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom {

std::string hex_encode(std::string_view bytes);
// Accepts upper and lower case; errors (code "hex.invalid") on odd length or a non-hex digit.
Result<std::string> hex_decode(std::string_view text);

}  // namespace cloakroom
