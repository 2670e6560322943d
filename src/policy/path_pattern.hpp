// Path globs shared by token path caveats and service rules.
//   '*'  matches exactly one path segment (possibly empty), never crossing '/'
//   '**' as a whole segment ("/x/**") matches zero or more segments: "/x", "/x/", "/x/a/b"
//   '**' elsewhere matches any characters including '/'
// Everything else matches literally. Patterns match the whole normalized path (no query).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::policy {

class PathPattern {
  public:
    // Errors (code "pattern.invalid"): empty pattern, pattern not starting with '/' or '*', NUL.
    static Result<PathPattern> compile(std::string_view glob);

    bool matches(std::string_view normalized_path) const;
    const std::string& text() const { return text_; }

  private:
    struct Piece;  // implementation detail, defined in path_pattern.cpp
    std::string text_;
    std::vector<std::string> tokens_;  // compiled form; layout owned by path_pattern.cpp
};

}  // namespace cloakroom::policy
