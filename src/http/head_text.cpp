#include "http/head_text.hpp"

#include "util/ascii.hpp"

#include <cstddef>
#include <string_view>

namespace cloakroom::http::detail {
namespace {

constexpr std::size_t kMaxQuotedBytes = 64;

void append_hex(std::string& out, char c) {
    constexpr std::string_view kDigits = "0123456789ABCDEF";
    const auto byte = static_cast<unsigned char>(c);
    out += "\\x";
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0x0F];
}

bool is_plain_printable(char c) {
    return c >= 0x20 && c <= 0x7E && c != '\\';
}

}  // namespace

bool is_token(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text) {
        if (!is_tchar(c)) return false;
    }
    return true;
}

bool is_framing_field(std::string_view name) {
    switch (name.size()) {
        case 4:
            return iequals(name, "Host");
        case 14:
            return iequals(name, "Content-Length");
        case 17:
            return iequals(name, "Transfer-Encoding");
        default:
            return false;
    }
}

std::string quote(std::string_view text) {
    std::string out = "'";
    const std::string_view shown = text.substr(0, kMaxQuotedBytes);
    for (char c : shown) {
        if (is_plain_printable(c)) {
            out += c;
        } else {
            append_hex(out, c);
        }
    }
    out += '\'';
    if (shown.size() < text.size()) out += "...";
    return out;
}

std::string shown(Side side, std::string_view text) {
    return side == Side::Request ? " " + quote(text) : std::string();
}

std::string shown_name(Side side, std::string_view name) {
    if (side == Side::Request) return " " + quote(name);
    // Canonical spellings: the text comes from here, never from the response.
    static constexpr std::string_view kKnown[] = {"Content-Length", "Transfer-Encoding",
                                                  "Connection", "Proxy-Connection", "Host"};
    for (const std::string_view known : kKnown) {
        if (iequals(name, known)) return " " + std::string(known);
    }
    return std::string();
}

std::string shown_byte(Side side, char c) {
    return side == Side::Request ? " " + quote_byte(c) : std::string();
}

std::string quote_byte(char c) {
    if (is_plain_printable(c)) return std::string("'") + c + "'";
    std::string out;
    append_hex(out, c);
    return out;
}

}  // namespace cloakroom::http::detail
