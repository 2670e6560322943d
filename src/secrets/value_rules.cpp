#include "secrets/value_rules.hpp"

#include <string>

namespace cloakroom::secrets {
namespace {

bool is_continuation(unsigned char byte) {
    return (byte & 0xC0) == 0x80;
}

Error invalid(std::string_view source, const std::string& what) {
    return make_error("secret.invalid", std::string(source) + ": secret value " + what);
}

}  // namespace

Utf8Problem find_utf8_problem(std::string_view bytes) {
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    while (i < n) {
        const auto lead = static_cast<unsigned char>(bytes[i]);
        if (lead < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        // Bounds for the second byte (Unicode Table 3-7); they are what excludes overlong
        // forms, UTF-16 surrogates and code points above U+10FFFF.
        unsigned char low = 0x80;
        unsigned char high = 0xBF;
        std::string_view second_reason = "has an invalid continuation byte";
        if (lead < 0xC0) return {i, "has an unexpected continuation byte"};
        if (lead < 0xC2) return {i, "has an overlong encoding"};
        if (lead < 0xE0) {
            length = 2;
        } else if (lead < 0xF0) {
            length = 3;
            if (lead == 0xE0) {
                low = 0xA0;
                second_reason = "has an overlong encoding";
            } else if (lead == 0xED) {
                high = 0x9F;
                second_reason = "encodes a UTF-16 surrogate";
            }
        } else if (lead < 0xF5) {
            length = 4;
            if (lead == 0xF0) {
                low = 0x90;
                second_reason = "has an overlong encoding";
            } else if (lead == 0xF4) {
                high = 0x8F;
                second_reason = "encodes a code point above U+10FFFF";
            }
        } else {
            return {i, "has an invalid UTF-8 lead byte"};
        }
        if (i + length > n) return {i, "ends in a truncated UTF-8 sequence"};
        const auto second = static_cast<unsigned char>(bytes[i + 1]);
        if (!is_continuation(second)) return {i, "has a truncated UTF-8 sequence"};
        if (second < low || second > high) return {i, second_reason};
        for (std::size_t k = 2; k < length; ++k) {
            if (!is_continuation(static_cast<unsigned char>(bytes[i + k]))) {
                return {i, "has a truncated UTF-8 sequence"};
            }
        }
        i += length;
    }
    return {};
}

Result<void> apply_value_rules(SecretBuffer& bytes, std::string_view source) {
    std::string_view value = bytes.view();
    if (value.size() >= 2 && value.substr(value.size() - 2) == "\r\n") {
        bytes.set_size(value.size() - 2);
    } else if (!value.empty() && value.back() == '\n') {
        bytes.set_size(value.size() - 1);
    }
    value = bytes.view();

    if (value.empty()) return invalid(source, "is empty");
    // Control characters first, in offset order: they are the rules people hit most (an extra
    // newline from `echo`, a Windows editor), so name them explicitly rather than as "bad UTF-8".
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const char* rule = nullptr;
        if (c == '\0') rule = "contains a NUL byte";
        if (c == '\r') rule = "contains a carriage return (CR)";
        if (c == '\n') rule = "contains a line feed (LF)";
        if (rule != nullptr) {
            std::string what = std::string(rule) + " at byte offset " + std::to_string(i);
            if (c == '\n' && i + 1 == value.size()) {
                what += " (only one trailing newline is stripped)";
            }
            return invalid(source, what);
        }
    }
    if (const Utf8Problem problem = find_utf8_problem(value);
        problem.offset != std::string_view::npos) {
        return invalid(source, "is not valid UTF-8: it " + std::string(problem.reason) +
                                   " at byte offset " + std::to_string(problem.offset));
    }
    return {};
}

}  // namespace cloakroom::secrets
