// The forms an upstream may echo a secret in (docs/redaction.md): the redaction needles derived
// from one secret value. Pure functions, no I/O.
//
// An echo is rarely the bytes that were sent: a server logs the Authorization header into a JSON
// body (JSON string escapes), puts a token in a redirect URL (percent-encoding), returns the
// Basic pair or the key base64-encoded inside a larger blob, or prints a hex dump. Each form here
// is a needle for secrets/redactor.hpp; every occurrence of any of them is starred.
//
// Base64 inside a larger blob: the secret's bytes start at an offset the upstream chose, and a
// base64 character covers 6 bits, so the secret's encoding depends on the offset modulo 3 (its
// "alignment") and on the neighbouring bytes at both ends. For each alignment only the
// characters made of the secret's bits alone are stable; those are the needle (the one or two
// characters at each end that mix in foreign bits reveal at most 4 bits of the secret each).
//
// Derived forms shorter than kMinDerivedLength are left out: they would star unrelated text
// and hide nothing useful (the value itself is always a needle, whatever its length).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::secrets {

inline constexpr std::size_t kMinDerivedLength = 4;

// `value` percent-encoded the ways common encoders do (everything but unreserved; also keeping
// '/' as Python's quote() does; space as '+' as form encoding does; keeping '/', ':' and '@'),
// each with upper and lower-case hex, and `value` itself first. Distinct, non-empty.
std::vector<std::string> percent_forms(std::string_view value);

// `value` as a JSON string body (without the quotes) by common encoders: the minimal escapes
// (RFC 8259: '"', '\\', control characters), plus "\/" (PHP), plus HTML-safe "\u003c" for
// '<', '>', '&' (Go), plus '\'' '+' '`' (.NET), plus non-ASCII as \uXXXX code points (Python's
// ensure_ascii, only for valid UTF-8), each with lower and upper-case hex; and every byte that is
// not a letter or digit as "\u00XX". Distinct, and only the ones that differ from `value`.
std::vector<std::string> json_forms(std::string_view value);

// Hexadecimal of the bytes, lower and upper case (one form when `value` has no byte whose hex
// holds a letter).
std::vector<std::string> hex_forms(std::string_view value);

// The characters of base64(prefix + value + suffix) that depend on `value`'s bits alone, for
// `value` starting at a byte offset ≡ `alignment` (0, 1 or 2) modulo 3, in the standard or
// URL-safe alphabet. Empty when there is none.
std::string base64_stable_part(std::string_view value, unsigned alignment, bool url_safe);

// Base64 of `value`: standalone (standard and URL-safe alphabets, padded and not) and the stable
// part at each alignment in both alphabets. Distinct, at least kMinDerivedLength long.
std::vector<std::string> base64_forms(std::string_view value);

// `value` as carried by text transports: itself, percent_forms and json_forms. Distinct.
std::vector<std::string> transport_forms(std::string_view value);

// Every needle derived from one secret value: transport_forms(value), hex_forms(value), and the
// transport forms of each of base64_forms(value). Distinct; derived forms at least
// kMinDerivedLength long; the value itself first. The caller owns (and wipes) the strings.
std::vector<std::string> redaction_forms(std::string_view value);

// Overwrites and clears every string (they hold secret bytes).
void wipe_forms(std::vector<std::string>& forms);

}  // namespace cloakroom::secrets
