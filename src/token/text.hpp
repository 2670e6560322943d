// Formatting helpers for reasons and JSON: token content is attacker-controlled, so it is quoted
// and escaped before it reaches a log line or an error body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::token::detail {

// \", \\ and any byte outside printable ASCII as \xNN (no surrounding quotes).
std::string escape(std::string_view text);
// "..." with \", \\ and any byte outside printable ASCII as \xNN.
std::string quote(std::string_view text);
// [a b c] of quoted entries, like agent-creds' Go %v of a slice but escaped; "nil" for nullopt.
std::string list_text(const std::optional<std::vector<std::string>>& list);
// RFC 3339 UTC ("2024-01-01T00:00:00Z"); nullopt outside years 0000–9999.
std::optional<std::string> rfc3339_utc(std::int64_t unix_seconds);
bool valid_utf8(std::string_view text);
// The text itself when it is valid UTF-8 without control characters, else nullopt.
std::optional<std::string> printable_utf8(std::string_view text);

}  // namespace cloakroom::token::detail
