#include "policy/path_pattern.hpp"

#include <algorithm>
#include <vector>

#include "policy/path_chars.hpp"

namespace cloakroom::policy {
namespace {

constexpr std::string_view kCode = "pattern.invalid";

// Program opcodes. '/**' compiles to kOptSlash followed by kAnyRun: "either skip both, or
// consume a '/' and then anything", which is agent-creds' (?:/.*)?.
constexpr char kSegmentRun = '\x01';  // '*'  : [^/]*
constexpr char kAnyRun = '\x02';      // '**' : .*
constexpr char kOptSlash = '\x03';    // '/' of '/**': consume '/' or skip itself and next step

Error pattern_error(std::string_view glob, std::string message) {
    // Patterns are configuration, never secrets, and canonicalization already refused any
    // unprintable byte before this is reached, so echoing the pattern is safe.
    return make_error(std::string(kCode),
                      "pattern: '" + std::string(glob) + "' " + std::move(message));
}

// Rejects shapes that can never match a normalized path, so a typo fails loudly at load or
// mint time instead of silently allowing or denying nothing.
Result<void> check_segments(std::string_view glob, std::string_view canonical) {
    if (canonical.find("//") != std::string_view::npos) {
        return pattern_error(glob,
                             "contains '//'; normalized paths never do (repeated slashes are "
                             "collapsed)");
    }
    std::size_t start = 0;
    while (start <= canonical.size()) {
        std::size_t end = canonical.find('/', start);
        if (end == std::string_view::npos) end = canonical.size();
        const std::string_view segment = canonical.substr(start, end - start);
        if (segment == "." || segment == "..") {
            return pattern_error(glob, "contains the dot segment '" + std::string(segment) +
                                           "'; normalized paths never do (dot segments are "
                                           "resolved before matching)");
        }
        start = end + 1;
    }
    return {};
}

std::string compile_program(std::string_view canonical) {
    std::string program;
    program.reserve(canonical.size());
    std::size_t i = 0;
    while (i < canonical.size()) {
        // Same precedence as agent-creds' three ReplaceAll passes: '/**' first, then '**',
        // then '*'. A left-to-right scan gives the same tokens because '/' never belongs to a
        // star run, so every '/**' is seen before its stars can be taken by '**'.
        if (canonical.substr(i, 3) == "/**") {
            program.push_back(kOptSlash);
            program.push_back(kAnyRun);
            i += 3;
        } else if (canonical.substr(i, 2) == "**") {
            program.push_back(kAnyRun);
            i += 2;
        } else if (canonical[i] == '*') {
            program.push_back(kSegmentRun);
            i += 1;
        } else {
            program.push_back(canonical[i]);
            i += 1;
        }
    }
    return program;
}

// Adds the steps reachable without consuming input. Epsilon moves only go forward (a run may be
// left, an optional slash skipped), so one ascending pass reaches the closure.
void close_over_empty(const std::string& program, std::vector<unsigned char>& states) {
    for (std::size_t s = 0; s < program.size(); ++s) {
        if (!states[s]) continue;
        const char op = program[s];
        if (op == kSegmentRun || op == kAnyRun) states[s + 1] = 1;
        if (op == kOptSlash) states[s + 2] = 1;  // kOptSlash is always followed by kAnyRun
    }
}

}  // namespace

Result<PathPattern> PathPattern::compile(std::string_view glob) {
    return compile(glob, {});
}

Result<PathPattern> PathPattern::compile(std::string_view glob, const PathOptions& options) {
    if (glob.empty()) return make_error(std::string(kCode), "pattern: the pattern is empty");
    if (glob.size() > kMaxPatternBytes) {
        return make_error(std::string(kCode),
                          "pattern: the pattern is " + std::to_string(glob.size()) +
                              " bytes, over the limit of " + std::to_string(kMaxPatternBytes));
    }
    if (glob.front() != '/' && glob.front() != '*') {
        return make_error(std::string(kCode),
                          "pattern: must start with '/' (or a leading '*' or '**'), found " +
                              detail::describe_byte(static_cast<unsigned char>(glob.front())) +
                              " at offset 0");
    }
    if (const std::size_t q = glob.find('?'); q != std::string_view::npos) {
        return make_error(std::string(kCode),
                          "pattern: '?' at offset " + std::to_string(q) +
                              " is refused (patterns match the path without its query; '?' is "
                              "not a wildcard)");
    }

    auto canonical =
        detail::canonicalize_path_chars(glob, {.error_code = kCode,
                                               .label = "pattern",
                                               .allow_encoded_slash = options.allow_encoded_slash,
                                               .offset_base = 0});
    if (!canonical) return canonical.error();
    if (auto shaped = check_segments(glob, *canonical); !shaped) return shaped.error();
    // agent-creds reads "/a/***" as "/a" + optional "/..." + "*", which also matches "/ab":
    // never what the author meant, so a run of three or more stars is a mistake to report.
    if (glob.find("***") != std::string_view::npos) {
        return pattern_error(glob,
                             "contains a run of three or more '*', which is ambiguous; write "
                             "'/**' (any depth) or '/**/*' (at least one segment)");
    }

    PathPattern pattern;
    pattern.text_ = std::string(glob);
    pattern.program_ = compile_program(*canonical);
    pattern.canonical_ = std::move(*canonical);
    return pattern;
}

bool PathPattern::matches(std::string_view normalized_path) const {
    // Thompson-style simulation: the set of program steps alive after each character. Every
    // character costs at most one visit per step, so the worst case is O(|program| x |path|)
    // with no backtracking, whatever the pattern ("/**/**/**/x" included).
    const std::size_t accept = program_.size();
    std::vector<unsigned char> current(accept + 1, 0);
    std::vector<unsigned char> next(accept + 1, 0);
    current[0] = 1;
    close_over_empty(program_, current);

    for (const char c : normalized_path) {
        std::fill(next.begin(), next.end(), 0);
        bool alive = false;
        for (std::size_t s = 0; s < accept; ++s) {
            if (!current[s]) continue;
            const char op = program_[s];
            if (op == kAnyRun || (op == kSegmentRun && c != '/')) {
                next[s] = 1;
                alive = true;
            } else if ((op == kOptSlash && c == '/') ||
                       (op != kSegmentRun && op != kAnyRun && op != kOptSlash && op == c)) {
                next[s + 1] = 1;
                alive = true;
            }
        }
        if (!alive) return false;
        close_over_empty(program_, next);
        current.swap(next);
    }
    return current[accept] != 0;
}

}  // namespace cloakroom::policy
