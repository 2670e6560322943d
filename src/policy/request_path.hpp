// Request-target normalization: the single place that decides which path a rule or caveat sees.
// Security invariant 4 (docs/architecture.md): rules and caveats match the normalized path, and the
// request sent upstream carries exactly that path.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::policy {

// Longest request target accepted, before and after normalization (the normalized form can be
// longer when raw characters get percent-encoded; bounding both keeps normalization idempotent).
inline constexpr std::size_t kMaxRequestTargetBytes = 8192;

struct PathOptions {
    // Encoded slashes/backslashes (%2F, %5C), a raw backslash and NUL are refused by default:
    // an upstream may decode them into separators after Cloakroom checked the path.
    bool allow_encoded_slash = false;
};

struct NormalizedTarget {
    std::string path;   // normalized, always starts with '/', no query, no fragment
    std::string query;  // raw query string without the leading '?', unchanged ("" if none)
    bool has_query = false;
    // What to send upstream: path + ("?" + query when has_query).
    std::string request_target() const { return has_query ? path + "?" + query : path; }
};

// Normalizes an origin-form request target ("/a/b?x=1"). Errors use code "path.invalid" with a
// message that names the offending part. The exact rules are in docs/paths.md; in short: the
// path's characters are canonicalized (policy/path_chars.hpp), then empty and dot segments are
// removed (policy/dot_segments.hpp); the query is checked for forbidden bytes but kept verbatim;
// a '#' anywhere is refused. normalize_target(x.request_target()) == x for every result x.
Result<NormalizedTarget> normalize_target(std::string_view raw_target,
                                          const PathOptions& options = {});

}  // namespace cloakroom::policy
