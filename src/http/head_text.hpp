// Character classes of RFC 9110/9112 and the one way reasons quote untrusted input.
// Internal to src/http.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "util/ascii.hpp"

namespace cloakroom::http::detail {

enum class Side { Request, Response };

// Inline, and tchar by table: these run for every byte of every head (twice per request).
inline constexpr std::array<bool, 256> kTchar = [] {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
        table[static_cast<unsigned char>(c)] = true;
    }
    return table;
}();

// tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA
inline bool is_tchar(char c) {
    return kTchar[static_cast<unsigned char>(c)];
}
bool is_token(std::string_view text);  // 1*tchar
inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
inline bool is_ows(char c) {  // SP / HTAB
    return c == ' ' || c == '\t';
}
// field-vchar / SP / HTAB: any byte except controls (other than HTAB) and DEL.
inline bool is_field_value_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return c == '\t' || (byte >= 0x20 && byte != 0x7F);
}
// Whether every byte of `text` is a field-value byte (is_field_value_char). Field values are
// most of a head's bytes (a bearer token alone is ~200), and a byte loop cost ~8 instructions
// per byte; this looks at 8 bytes per step (SWAR) and goes byte by byte only through a word
// that holds a control byte or DEL, so a rare HTAB costs one word.
inline bool all_field_value_chars(std::string_view text) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    const char* const data = text.data();
    const std::size_t size = text.size();
    const auto bytes_ok = [&](std::size_t from, std::size_t to) {
        bool clean = true;
        for (std::size_t i = from; i < to; ++i) clean &= is_field_value_char(data[i]);
        return clean;
    };
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, data + i, sizeof word);
        // Exact "some byte < 0x20" and "some byte == 0x7F" tests (the bit positions may be off
        // after a borrow, the zero/non-zero answer is not).
        const std::uint64_t below_space = (word - 0x20 * kOnes) & ~word & kHigh;
        const std::uint64_t del = word ^ (0x7F * kOnes);
        const std::uint64_t has_del = (del - kOnes) & ~del & kHigh;
        if ((below_space | has_del) != 0 && !bytes_ok(i, i + 8)) return false;
    }
    return bytes_ok(i, size);
}
// Request-target bytes: VCHAR only (no SP, no controls, no obs-text: a URI is ASCII).
inline bool is_target_char(char c) {
    return c > 0x20 && c < 0x7F;
}

// Host, Content-Length, Transfer-Encoding: the fields that frame and route a message, which a
// Connection field must never name (and a proxy must never drop because one does).
bool is_framing_field(std::string_view name);

// Inline: the validator and the parser call these for every field line of every head.
inline std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
    return text;
}
inline bool iequals(std::string_view a, std::string_view b) {  // ASCII case-insensitive
    return ascii_iequals(a, b);
}

// At most 64 bytes of `text`, quoted with '…', every byte outside printable ASCII (and '\\')
// written as \xNN, "..." appended when cut. Reasons go to agents and logs: never raw bytes.
std::string quote(std::string_view text);
// One byte as it appears in a reason: 'x' when printable, \xNN otherwise.
std::string quote_byte(char c);

// The one rule for what a rejection reason may quote. A request's reason may quote the request
// (the agent's own bytes: the credential is injected only after the head passed). A response's
// reason never holds a byte of the response: an upstream may echo the injected credential in any
// line, and the reason reaches the agent, the audit record and the log. So a response reason
// says where (the line number, added by the validator) and what is wrong, and names a field only
// when it is one of the fields the validator knows (in its canonical spelling, not as received).
//
// " 'text'" (quote() after a space) for a request, "" for a response.
std::string shown(Side side, std::string_view text);
// A field name: " 'name'" for a request; for a response " Content-Length" etc. when the name is
// one of the known fields (ASCII case-insensitive), else "".
std::string shown_name(Side side, std::string_view name);
// " " + quote_byte(c) for a request, "" for a response.
std::string shown_byte(Side side, char c);

}  // namespace cloakroom::http::detail
