// Byte-level canonical form shared by request paths and path patterns. Both sides of a match go
// through this one function, so a resource spelled two ways by a client (%41 vs A, %3a vs %3A,
// | vs %7C) is spelled one way by the time a rule or caveat looks at it (docs/architecture.md,
// invariant 4).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::policy::detail {

struct PathCharsOptions {
    std::string_view error_code;  // "path.invalid" or "pattern.invalid"
    std::string_view label;       // "path" or "pattern": first word of every error message
    bool allow_encoded_slash = false;
    std::size_t offset_base = 0;  // added to offsets in messages (position in the caller's input)
};

bool is_unreserved(unsigned char c);

// Describes a byte for an error message without echoing raw control or non-ASCII bytes.
std::string describe_byte(unsigned char c);

// Canonicalizes the characters of a path (no query) without touching its structure:
//   - %XX of an unreserved character (ALPHA DIGIT - . _ ~) is decoded ("%2e" -> ".");
//   - every other %XX is kept with upper-case hex ("%3a" -> "%3A");
//   - raw bytes RFC 3986 never allows in a path but that are harmless as data
//     (" < > [ ] ^ ` { | }) are percent-encoded, so "|" and "%7C" compare equal.
// Refused (error): NUL raw or %00, other control bytes and DEL, non-ASCII bytes, raw space,
// raw backslash, '#', a raw ';' (path parameters), malformed escapes, and %2F / %5C unless
// allow_encoded_slash.
Result<std::string> canonicalize_path_chars(std::string_view text, const PathCharsOptions& options);

}  // namespace cloakroom::policy::detail
