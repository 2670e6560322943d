#include "util/hex.hpp"

namespace cloakroom {
namespace {

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string hex_encode(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

Result<std::string> hex_decode(std::string_view text) {
    if (text.size() % 2 != 0) return make_error("hex.invalid", "odd number of hex digits");
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = digit_value(text[i]);
        const int lo = digit_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return make_error("hex.invalid", "invalid hex digit at position " +
                                                 std::to_string(hi < 0 ? i : i + 1));
        }
        out += static_cast<char>(hi << 4 | lo);
    }
    return out;
}

}  // namespace cloakroom
