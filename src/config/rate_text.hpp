// Rates as written in the configuration and on the command line ("10/s", "600/min", "1000/h").
#pragma once

#include <string_view>

#include "config/model.hpp"
#include "util/result.hpp"

namespace cloakroom::config {

// Error code "config.rate"; the count is 1 to 1000000000 (limits_format.cpp).
Result<Rate> parse_rate(std::string_view text);

}  // namespace cloakroom::config
