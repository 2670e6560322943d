#include "token/text.hpp"

#include <cstdio>
#include <ctime>

namespace cloakroom::token::detail {

std::string quote(std::string_view text) {
    return '"' + escape(text) + '"';
}

std::string escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (b < 0x20 || b >= 0x7f) {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", b);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

std::string list_text(const std::optional<std::vector<std::string>>& list) {
    if (!list) return "nil";
    std::string out = "[";
    for (std::size_t i = 0; i < list->size(); ++i) {
        if (i > 0) out += ' ';
        out += quote((*list)[i]);
    }
    out += ']';
    return out;
}

std::optional<std::string> rfc3339_utc(std::int64_t unix_seconds) {
    // Years 0..9999 keep the text valid RFC 3339 and stay well inside time_t and tm ranges.
    constexpr std::int64_t kMin = -62167219200;  // 0000-01-01T00:00:00Z
    constexpr std::int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
    if (unix_seconds < kMin || unix_seconds > kMax) return std::nullopt;
    const auto t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return std::nullopt;
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf);
}

std::optional<std::string> printable_utf8(std::string_view text) {
    if (!valid_utf8(text)) return std::nullopt;
    for (const char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7f) return std::nullopt;
    }
    return std::string(text);
}

bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto b = static_cast<unsigned char>(text[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((b & 0xe0) == 0xc0) {
            len = 2;
            cp = b & 0x1fu;
        } else if ((b & 0xf0) == 0xe0) {
            len = 3;
            cp = b & 0x0fu;
        } else if ((b & 0xf8) == 0xf0) {
            len = 4;
            cp = b & 0x07u;
        } else {
            return false;
        }
        if (i + len > text.size()) return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cb = static_cast<unsigned char>(text[i + k]);
            if ((cb & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cb & 0x3fu);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
        const bool overlong =
            (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
        if (overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
        i += len;
    }
    return true;
}

}  // namespace cloakroom::token::detail
