#include "util/time_parse.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace cloakroom {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's algorithm),
// so no timezone state (TZ, timegm's locale) leaks into parsing.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
        value = value * 10 + (text[i] - '0');
    }
    out = value;
    return true;
}

bool is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

Error invalid(std::string_view text, std::string_view why) {
    return make_error("time.invalid", "invalid time '" + std::string(text) +
                                          "': " + std::string(why) +
                                          " (use RFC 3339 like 2024-01-01T00:00:00Z, or Unix "
                                          "seconds)");
}

}  // namespace

Result<std::int64_t> parse_time(std::string_view text) {
    if (text.empty()) return invalid(text, "empty");
    const bool all_digits = text.find_first_not_of("0123456789") == std::string_view::npos;
    if (all_digits || (text[0] == '-' && text.size() > 1 &&
                       text.find_first_not_of("0123456789", 1) == std::string_view::npos)) {
        std::int64_t value = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || ptr != text.data() + text.size()) {
            return invalid(text, "out of range");
        }
        return value;
    }
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(text, 0, 4, year) || text.size() < 20 || text[4] != '-' ||
        !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
        (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
        !read_digits(text, 11, 2, hour) || text[13] != ':' || !read_digits(text, 14, 2, minute) ||
        text[16] != ':' || !read_digits(text, 17, 2, second)) {
        return invalid(text, "not a date-time");
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60) {
        return invalid(text, "field out of range");
    }
    std::size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
        if (pos == start) return invalid(text, "empty fraction");
    }
    int offset_seconds = 0;
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) {
        offset_seconds = 0;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-') &&
               pos + 6 == text.size() && text[pos + 3] == ':') {
        int oh = 0, om = 0;
        if (!read_digits(text, pos + 1, 2, oh) || !read_digits(text, pos + 4, 2, om) || oh > 23 ||
            om > 59) {
            return invalid(text, "bad UTC offset");
        }
        offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    } else {
        return invalid(text, "missing or bad UTC offset (Z or +HH:MM)");
    }
    const std::int64_t days =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    return days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
}

std::string format_time_utc(std::int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return n == 0 ? std::to_string(unix_seconds) : std::string(buf, n);
}

}  // namespace cloakroom
