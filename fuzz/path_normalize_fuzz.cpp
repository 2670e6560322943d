// libFuzzer target for request-target normalization and path globs. Normalization is the one
// place deciding what rules see and what goes upstream (docs/architecture.md, invariant 4), so
// besides "no crash" it checks the output's shape and idempotence on every accepted input.
//
// Input layout: byte 0 picks options; the rest is split at the first 0xFF byte into a request
// target and (after it) a pattern. Without a 0xFF the whole rest is the target.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/path_pattern.hpp"
#include "policy/request_path.hpp"

namespace {

void require(bool condition) {
    if (!condition) std::abort();
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    using cloakroom::policy::normalize_target;
    using cloakroom::policy::PathOptions;
    using cloakroom::policy::PathPattern;

    const PathOptions options{.allow_encoded_slash = (data[0] & 1) != 0};
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::size_t split = rest.find('\xff');
    const std::string_view target = rest.substr(0, split);
    const std::string_view glob =
        split == std::string_view::npos ? std::string_view() : rest.substr(split + 1);

    auto normalized = normalize_target(target, options);
    std::string path;
    if (normalized.ok()) {
        path = normalized->path;
        require(!path.empty() && path.front() == '/');
        require(!contains(path, "//"));
        require(!contains(path, "/./") && !contains(path, "/../"));
        require(!path.ends_with("/.") && !path.ends_with("/.."));
        require(!contains(path, "?") && !contains(path, "#"));
        if (!options.allow_encoded_slash) {
            require(!contains(path, "%2F") && !contains(path, "%2f"));
            require(!contains(path, "%5C") && !contains(path, "%5c"));
        }
        const std::string sent = normalized->request_target();
        require(sent.size() <= cloakroom::policy::kMaxRequestTargetBytes);
        auto again = normalize_target(sent, options);
        require(again.ok());
        require(again->path == path && again->query == normalized->query &&
                again->has_query == normalized->has_query && again->request_target() == sent);
    } else {
        require(normalized.error().code == "path.invalid" && !normalized.error().message.empty());
    }

    if (glob.empty()) return 0;
    auto pattern = PathPattern::compile(glob, options);
    if (!pattern.ok()) {
        require(pattern.error().code == "pattern.invalid");
        return 0;
    }
    // A canonical pattern is itself a normalized path shape; without wildcards it must match
    // exactly the path it spells and nothing else.
    const std::string& canonical = pattern->canonical_text();
    if (!contains(canonical, "*")) {
        require(pattern->matches(canonical));
        if (!path.empty()) require(pattern->matches(path) == (path == canonical));
    } else if (!path.empty()) {
        (void)pattern->matches(path);
    }
    // Matching arbitrary bytes (not normalized) must be safe too.
    (void)pattern->matches(target);
    return 0;
}
