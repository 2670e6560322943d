// Structural half of path normalization: empty and dot segments.
#pragma once

#include <string>
#include <string_view>

namespace cloakroom::policy::detail {

// Input: a path starting with '/' whose characters are already canonical (path_chars.hpp), so
// "%2e%2e" has become ".." and is removed here like a literal "..".
// - "." segments are dropped and ".." drops the segment before it (RFC 3986 §5.2.4); ".." at the
//   root stays at the root ("/../a" -> "/a"), as every mainstream server does;
// - empty segments ("//") are dropped, so an agent cannot reach a path that differs from the
//   checked one by empty segments an upstream might treat as significant;
// - a trailing slash survives, also one implied by a final "." or ".." ("/a/b/.." -> "/a/").
// The result starts with '/', has no empty segment except a final one and no dot segment.
std::string remove_dot_segments(std::string_view path);

}  // namespace cloakroom::policy::detail
