// Path globs shared by token path caveats and service rules, with agent-creds' semantics
// (tests/vectors/README.md §6), applied to the normalized path:
//   '/**' anywhere       matches "" or '/' followed by anything: "/x/**" matches "/x", "/x/",
//                        "/x/a/b"; "/v1/**/refunds" matches "/v1/refunds" and "/v1/a/b/refunds"
//   any other '**'       matches any characters including '/'
//   '*'                  matches any characters except '/' (one segment, possibly empty)
// Everything else matches literally. Patterns match the whole normalized path (no query).
// A pattern's percent-escapes are canonicalized like a path's ("%7e" -> "~", "%c3" -> "%C3"), so
// a pattern and a path that spell the same resource compare equal. Details: docs/paths.md.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "policy/request_path.hpp"
#include "util/result.hpp"

namespace cloakroom::policy {

// Longest pattern accepted; matching costs O(pattern length x path length).
inline constexpr std::size_t kMaxPatternBytes = 2048;

class PathPattern {
  public:
    // Errors (code "pattern.invalid"): empty or too long; not starting with '/' (a leading '*'
    // or '**' is fine); bytes a request path may not carry (NUL, control, non-ASCII, space,
    // backslash, '#', malformed escape, %00); '?' (patterns never see the query); and shapes no
    // normalized path can have, which are always a configuration or minting mistake: '//', a
    // '.' or '..' segment (also spelled %2e), %2F or %5C (unless options.allow_encoded_slash,
    // for services whose paths are normalized with that option too). Also a run of three or
    // more '*' (agent-creds gives "/a/***" a meaning that matches "/ab"; always a typo).
    static Result<PathPattern> compile(std::string_view glob);
    static Result<PathPattern> compile(std::string_view glob, const PathOptions& options);

    // Whole-path match in O(pattern x path) time and O(pattern) memory, never recursive.
    // normalized_path should come from normalize_target(); anything else is compared as is.
    bool matches(std::string_view normalized_path) const;

    const std::string& text() const { return text_; }                 // as written
    const std::string& canonical_text() const { return canonical_; }  // what is matched

  private:
    std::string text_;
    std::string canonical_;
    // One byte per matcher step: a literal character, or one of the opcodes in path_pattern.cpp
    // (control bytes, which a canonical pattern can never contain).
    std::string program_;
};

}  // namespace cloakroom::policy
