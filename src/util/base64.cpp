#include "util/base64.hpp"

#include <array>
#include <cstdint>

namespace cloakroom {
namespace {

constexpr std::string_view kStdAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(std::string_view bytes, std::string_view alphabet, bool pad) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v =
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
            static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[v >> 18 & 0x3f];
        out += alphabet[v >> 12 & 0x3f];
        out += alphabet[v >> 6 & 0x3f];
        out += alphabet[v & 0x3f];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]))
                                << 16;
        out += alphabet[v >> 18 & 0x3f];
        out += alphabet[v >> 12 & 0x3f];
        if (pad) out += "==";
    } else if (rest == 2) {
        const std::uint32_t v =
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        out += alphabet[v >> 18 & 0x3f];
        out += alphabet[v >> 12 & 0x3f];
        out += alphabet[v >> 6 & 0x3f];
        if (pad) out += '=';
    }
    return out;
}

Error illegal_at(std::size_t position) {
    return make_error("base64.invalid",
                      "illegal base64 data at input byte " + std::to_string(position));
}

// Decodes unpadded data (padding already stripped and validated by the caller).
Result<std::string> decode_unpadded(std::string_view text, std::string_view alphabet) {
    std::array<int, 256> value{};
    value.fill(-1);
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        value[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
    }
    // A single leftover character cannot encode a whole byte.
    if (text.size() % 4 == 1) return illegal_at(text.size() - 1);

    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const int v = value[static_cast<unsigned char>(text[i])];
        if (v < 0) return illegal_at(i);
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // Unused low bits of the last character must be zero, otherwise two texts decode to the
    // same bytes (a malleable encoding).
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return illegal_at(text.size() - 1);
    return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    return encode(bytes, kStdAlphabet, true);
}

std::string base64url_encode(std::string_view bytes) {
    return encode(bytes, kUrlAlphabet, false);
}

Result<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return illegal_at(text.size() - text.size() % 4);
    std::size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
    return decode_unpadded(text.substr(0, text.size() - pad), kStdAlphabet);
}

Result<std::string> base64url_decode(std::string_view text) {
    return decode_unpadded(text, kUrlAlphabet);
}

}  // namespace cloakroom
