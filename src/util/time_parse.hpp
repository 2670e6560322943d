// Points in time as users write them on the command line: RFC 3339 or Unix seconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom {

// "1700000000", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00.5Z"
// (fractions are truncated toward the earlier second). Errors: code "time.invalid".
Result<std::int64_t> parse_time(std::string_view text);

// RFC 3339 in UTC with a 'Z', e.g. "2024-01-01T00:00:00Z".
std::string format_time_utc(std::int64_t unix_seconds);

}  // namespace cloakroom
