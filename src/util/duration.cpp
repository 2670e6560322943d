#include "util/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace cloakroom {
namespace {

struct Unit {
    char symbol;
    std::int64_t seconds;
};

// Largest first: the order parse_duration() demands and format_duration() writes.
constexpr std::array<Unit, 5> kUnits{
    {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

// Caps totals well inside int64 so callers can add a duration to a Unix time without overflow.
constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 4;

Error invalid(std::string_view text, std::string_view why) {
    return make_error("duration.invalid",
                      "invalid duration \"" + std::string(text) + "\": " + std::string(why));
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

Result<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.empty()) return invalid(text, "empty (write e.g. \"90s\", \"30m\", \"24h\", \"7d\")");
    if (text.front() == '-') return invalid(text, "durations cannot be negative");

    std::int64_t total = 0;
    std::size_t pos = 0;
    std::size_t next_unit = 0;  // index into kUnits: units must come largest first, once each
    while (pos < text.size()) {
        if (!is_digit(text[pos])) {
            return invalid(text, "expected a number at \"" + std::string(text.substr(pos)) + "\"");
        }
        std::int64_t number = 0;
        while (pos < text.size() && is_digit(text[pos])) {
            const int digit = text[pos] - '0';
            if (number > (kMaxSeconds - digit) / 10) return invalid(text, "too large");
            number = number * 10 + digit;
            ++pos;
        }
        if (pos == text.size()) {
            // A unitless number is only allowed alone: "90" is 90 seconds, "1h30" is a typo.
            if (total != 0 || next_unit != 0) {
                return invalid(text, "the last number has no unit (s, m, h, d or w)");
            }
            total = number;
            break;
        }
        // The unit is the whole run up to the next digit, so "500ms" names "ms", not "s".
        const std::size_t unit_start = pos;
        while (pos < text.size() && !is_digit(text[pos])) ++pos;
        const std::string_view unit_text = text.substr(unit_start, pos - unit_start);
        std::size_t index = 0;
        while (index < kUnits.size() &&
               (unit_text.size() != 1 || kUnits[index].symbol != unit_text.front())) {
            ++index;
        }
        if (index == kUnits.size()) {
            return invalid(text,
                           "unknown unit '" + std::string(unit_text) + "' (use s, m, h, d or w)");
        }
        if (index < next_unit) {
            return invalid(text, "units must go from largest to smallest, each at most once");
        }
        next_unit = index + 1;
        if (number > (kMaxSeconds - total) / kUnits[index].seconds)
            return invalid(text, "too large");
        total += number * kUnits[index].seconds;
    }
    return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds duration) {
    std::int64_t remaining = duration.count();
    if (remaining == 0) return "0s";
    std::string out;
    if (remaining < 0) {
        out = "-";
        // Negating INT64_MIN overflows; such a value never comes out of parse_duration().
        if (remaining == std::numeric_limits<std::int64_t>::min()) ++remaining;
        remaining = -remaining;
    }
    for (const Unit& unit : kUnits) {
        if (unit.symbol == 'w') continue;
        if (remaining >= unit.seconds) {
            out += std::to_string(remaining / unit.seconds);
            out += unit.symbol;
            remaining %= unit.seconds;
        }
    }
    return out;
}

}  // namespace cloakroom
