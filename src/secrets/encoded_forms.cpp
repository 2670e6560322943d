#include "secrets/encoded_forms.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

namespace cloakroom::secrets {
namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";
constexpr char kLowerHex[] = "0123456789abcdef";

void wipe(std::string& text) {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
    text.clear();
}

// Appends `form` unless empty or already there (then wipes it).
void add_distinct(std::vector<std::string>& forms, std::string form) {
    if (form.empty() || std::find(forms.begin(), forms.end(), form) != forms.end()) {
        wipe(form);
        return;
    }
    forms.push_back(std::move(form));
}

bool unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Percent-encodes every byte outside `keep` (plus unreserved), with `digits` for the hex; a
// space becomes '+' when `space_as_plus` (application/x-www-form-urlencoded).
std::string percent_with(std::string_view bytes, std::string_view keep, const char* digits,
                         bool space_as_plus) {
    std::string out;
    out.reserve(bytes.size() * 3);
    for (const char c : bytes) {
        if (unreserved(c) || keep.find(c) != std::string_view::npos) {
            out.push_back(c);
        } else if (c == ' ' && space_as_plus) {
            out.push_back('+');
        } else {
            const auto byte = static_cast<unsigned char>(c);
            out.push_back('%');
            out.push_back(digits[byte >> 4]);
            out.push_back(digits[byte & 0x0F]);
        }
    }
    return out;
}

struct JsonStyle {
    bool slash = false;    // '/' as "\/"
    bool html = false;     // '<' '>' '&' as \u00XX
    bool dotnet = false;   // also '\'' '+' '`' as \u00XX
    bool unicode = false;  // non-ASCII as \uXXXX code points (valid UTF-8 only)
    bool all = false;      // every byte but letters and digits as \u00XX
    const char* digits = kLowerHex;
};

void append_u(std::string& out, std::uint32_t unit, const char* digits) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out.push_back(digits[(unit >> shift) & 0xF]);
}

// The code point of the UTF-8 sequence at `at` and its length, or nullopt when invalid.
std::optional<std::pair<std::uint32_t, std::size_t>> utf8_at(std::string_view text,
                                                             std::size_t at) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[at + k]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    std::uint32_t point = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        point = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        point = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        point = lead & 0x07;
    } else {
        return std::nullopt;
    }
    if (text.size() - at < length) return std::nullopt;
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(k) & 0xC0) != 0x80) return std::nullopt;
        point = (point << 6) | (byte(k) & 0x3F);
    }
    const std::uint32_t least = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
    if (point < least || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF)) {
        return std::nullopt;
    }
    return std::make_pair(point, length);
}

// `value` JSON-escaped in `style`, or nullopt when the style does not apply (unicode on
// invalid UTF-8).
std::optional<std::string> json_escape(std::string_view value, const JsonStyle& style) {
    std::string out;
    out.reserve(value.size() * 2);
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const auto byte = static_cast<unsigned char>(c);
        if (style.all && !alnum(c) && byte < 0x80) {
            append_u(out, byte, style.digits);
            continue;
        }
        if (byte >= 0x80) {
            if (!style.unicode) {
                out.push_back(c);
                continue;
            }
            const auto decoded = utf8_at(value, i);
            if (!decoded) {
                if (!out.empty()) OPENSSL_cleanse(out.data(), out.size());
                return std::nullopt;
            }
            const auto [point, length] = *decoded;
            if (point >= 0x10000) {
                const std::uint32_t v = point - 0x10000;
                append_u(out, 0xD800 + (v >> 10), style.digits);
                append_u(out, 0xDC00 + (v & 0x3FF), style.digits);
            } else {
                append_u(out, point, style.digits);
            }
            i += length - 1;
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                continue;
            case '\\':
                out += "\\\\";
                continue;
            case '\b':
                out += "\\b";
                continue;
            case '\f':
                out += "\\f";
                continue;
            case '\n':
                out += "\\n";
                continue;
            case '\r':
                out += "\\r";
                continue;
            case '\t':
                out += "\\t";
                continue;
            default:
                break;
        }
        const bool html_char = c == '<' || c == '>' || c == '&';
        const bool dotnet_char = c == '\'' || c == '+' || c == '`';
        if (byte < 0x20 || byte == 0x7F || (style.html && html_char) ||
            (style.dotnet && (html_char || dotnet_char))) {
            append_u(out, byte, style.digits);
        } else if (c == '/' && style.slash) {
            out += "\\/";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

char base64_char(unsigned sextet, bool url_safe) {
    static constexpr char kStandard[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char c = kStandard[sextet & 63];
    if (url_safe && c == '+') return '-';
    if (url_safe && c == '/') return '_';
    return c;
}

// Standalone base64 of `value`, padded or not.
std::string base64_whole(std::string_view value, bool url_safe, bool padded) {
    std::string out;
    out.reserve((value.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= value.size(); i += 3) {
        const std::uint32_t group = (static_cast<unsigned char>(value[i]) << 16) |
                                    (static_cast<unsigned char>(value[i + 1]) << 8) |
                                    static_cast<unsigned char>(value[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6)
            out.push_back(base64_char(group >> shift, url_safe));
    }
    const std::size_t rest = value.size() - i;
    if (rest > 0) {
        std::uint32_t group = static_cast<unsigned char>(value[i]) << 16;
        if (rest == 2) group |= static_cast<unsigned char>(value[i + 1]) << 8;
        out.push_back(base64_char(group >> 18, url_safe));
        out.push_back(base64_char(group >> 12, url_safe));
        if (rest == 2) out.push_back(base64_char(group >> 6, url_safe));
        if (padded) out.append(rest == 1 ? "==" : "=");
    }
    return out;
}

}  // namespace

std::vector<std::string> percent_forms(std::string_view value) {
    std::vector<std::string> forms;
    add_distinct(forms, std::string(value));
    for (const char* digits : {kUpperHex, kLowerHex}) {
        add_distinct(forms, percent_with(value, "", digits, false));     // RFC 3986, Go, JS
        add_distinct(forms, percent_with(value, "/", digits, false));    // Python's quote()
        add_distinct(forms, percent_with(value, "", digits, true));      // form encoding
        add_distinct(forms, percent_with(value, "/:@", digits, false));  // encodeURI-like
    }
    return forms;
}

std::vector<std::string> json_forms(std::string_view value) {
    std::vector<std::string> forms;
    for (const char* digits : {kLowerHex, kUpperHex}) {
        const JsonStyle styles[] = {
            {.digits = digits},
            {.slash = true, .digits = digits},
            {.html = true, .digits = digits},
            {.dotnet = true, .digits = digits},
            {.unicode = true, .digits = digits},
            {.slash = true, .unicode = true, .digits = digits},
            {.html = true, .unicode = true, .digits = digits},
            {.all = true, .digits = digits},
        };
        for (const JsonStyle& style : styles) {
            std::optional<std::string> escaped = json_escape(value, style);
            if (!escaped) continue;
            if (*escaped == value) {
                wipe(*escaped);
                continue;
            }
            add_distinct(forms, std::move(*escaped));
        }
    }
    return forms;
}

std::vector<std::string> hex_forms(std::string_view value) {
    std::vector<std::string> forms;
    for (const char* digits : {kLowerHex, kUpperHex}) {
        std::string out;
        out.reserve(value.size() * 2);
        for (const char c : value) {
            const auto byte = static_cast<unsigned char>(c);
            out.push_back(digits[byte >> 4]);
            out.push_back(digits[byte & 0x0F]);
        }
        add_distinct(forms, std::move(out));
    }
    return forms;
}

std::string base64_stable_part(std::string_view value, unsigned alignment, bool url_safe) {
    alignment %= 3;
    // Character k of the encoding covers bits [6k, 6k + 6) of the byte stream; the value's bits
    // are [8 * alignment, 8 * (alignment + n)). Only characters entirely inside are stable.
    const std::size_t first_bit = 8 * alignment;
    const std::size_t end_bit = 8 * (alignment + value.size());
    const std::size_t first = (first_bit + 5) / 6;
    const std::size_t end = end_bit / 6;  // characters [first, end)
    std::string out;
    if (end <= first) return out;
    out.reserve(end - first);
    const auto bit = [&](std::size_t at) {  // at in [first_bit, end_bit)
        const auto byte = static_cast<unsigned char>(value[(at - first_bit) / 8]);
        return (byte >> (7 - (at - first_bit) % 8)) & 1U;
    };
    for (std::size_t k = first; k < end; ++k) {
        unsigned sextet = 0;
        for (std::size_t b = 0; b < 6; ++b) sextet = (sextet << 1) | bit(6 * k + b);
        out.push_back(base64_char(sextet, url_safe));
    }
    return out;
}

std::vector<std::string> base64_forms(std::string_view value) {
    std::vector<std::string> forms;
    const auto add = [&forms](std::string form) {
        if (form.size() < kMinDerivedLength) {
            wipe(form);
            return;
        }
        add_distinct(forms, std::move(form));
    };
    for (const bool url_safe : {false, true}) {
        add(base64_whole(value, url_safe, true));
        add(base64_whole(value, url_safe, false));
        for (unsigned alignment = 0; alignment < 3; ++alignment) {
            add(base64_stable_part(value, alignment, url_safe));
        }
    }
    return forms;
}

std::vector<std::string> transport_forms(std::string_view value) {
    std::vector<std::string> forms = percent_forms(value);
    std::vector<std::string> json = json_forms(value);
    for (std::string& form : json) add_distinct(forms, std::move(form));
    return forms;
}

std::vector<std::string> redaction_forms(std::string_view value) {
    std::vector<std::string> forms;
    if (value.empty()) return forms;
    forms.emplace_back(value);
    const auto add_derived = [&forms](std::vector<std::string> derived) {
        for (std::string& form : derived) {
            if (form.size() < kMinDerivedLength) {
                wipe(form);
                continue;
            }
            add_distinct(forms, std::move(form));
        }
    };
    add_derived(transport_forms(value));
    add_derived(hex_forms(value));
    std::vector<std::string> encoded = base64_forms(value);
    for (const std::string& form : encoded) add_derived(transport_forms(form));
    wipe_forms(encoded);
    return forms;
}

void wipe_forms(std::vector<std::string>& forms) {
    for (std::string& form : forms) wipe(form);
    forms.clear();
}

}  // namespace cloakroom::secrets
