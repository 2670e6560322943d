// Character classes of RFC 9110/9112 and the one way reasons quote untrusted input.
// Internal to src/http.
#pragma once

#include <string>
#include <string_view>

namespace cloakroom::http::detail {

// tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA
bool is_tchar(char c);
bool is_token(std::string_view text);  // 1*tchar
bool is_digit(char c);
bool is_ows(char c);  // SP / HTAB
// field-vchar / SP / HTAB: any byte except controls (other than HTAB) and DEL.
bool is_field_value_char(char c);
// Request-target bytes: VCHAR only (no SP, no controls, no obs-text: a URI is ASCII).
bool is_target_char(char c);

std::string_view trim_ows(std::string_view text);
bool iequals(std::string_view a, std::string_view b);  // ASCII case-insensitive

// At most 64 bytes of `text`, quoted with '…', every byte outside printable ASCII (and '\\')
// written as \xNN, "..." appended when cut. Reasons go to agents and logs: never raw bytes.
std::string quote(std::string_view text);
// One byte as it appears in a reason: 'x' when printable, \xNN otherwise.
std::string quote_byte(char c);

}  // namespace cloakroom::http::detail
