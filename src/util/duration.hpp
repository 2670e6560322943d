// Durations as people write them in config files and on the command line.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom {

// Accepts "90" (plain seconds), "90s", "30m", "24h", "7d", "1w" and combinations written from the
// largest unit down without repeats ("1h30m", "1w2d"). Units are lower-case: s m h d w.
// Errors (code "duration.invalid"): empty text, a sign, whitespace, an unknown or out-of-order
// unit, a number without a unit inside a combination, and totals that overflow.
// Zero ("0s") is valid here; callers decide whether zero makes sense for their setting.
Result<std::chrono::seconds> parse_duration(std::string_view text);

// The shortest form parse_duration() reads back to the same value, in days/hours/minutes/seconds
// ("1d", "1h30m", "45s", "0s"). Weeks are not used: "30d" reads better than "4w2d".
std::string format_duration(std::chrono::seconds duration);

}  // namespace cloakroom
