#include "policy/request_path.hpp"

#include "policy/dot_segments.hpp"
#include "policy/path_chars.hpp"

namespace cloakroom::policy {
namespace {

constexpr std::string_view kCode = "path.invalid";

Error path_error(std::string message) {
    return make_error(std::string(kCode), "path: " + std::move(message));
}

// The query is never matched by rules, so it is forwarded verbatim; it is still checked for bytes
// that could split or smuggle a request at an upstream that parses less strictly than we do.
Result<void> check_query(std::string_view query, std::size_t offset_base) {
    for (std::size_t i = 0; i < query.size(); ++i) {
        const auto c = static_cast<unsigned char>(query[i]);
        std::string what;
        if (c == 0) {
            what = "NUL byte";
        } else if (c < 0x20 || c == 0x7f) {
            what = "control byte " + detail::describe_byte(c);
        } else if (c >= 0x80) {
            what = "non-ASCII byte " + detail::describe_byte(c);
        } else if (c == ' ') {
            what = "raw space";
        } else if (c == '#') {
            what = "'#' (fragments are never sent; encode it as %23)";
        } else {
            continue;
        }
        return path_error(what + " in the query at offset " + std::to_string(offset_base + i) +
                          " is refused");
    }
    return {};
}

}  // namespace

Result<NormalizedTarget> normalize_target(std::string_view raw_target, const PathOptions& options) {
    if (raw_target.empty()) return path_error("the request target is empty");
    if (raw_target.size() > kMaxRequestTargetBytes) {
        return path_error("the request target is " + std::to_string(raw_target.size()) +
                          " bytes, over the limit of " + std::to_string(kMaxRequestTargetBytes));
    }
    if (raw_target.front() != '/') {
        return path_error("the request target must start with '/' (origin-form), found " +
                          detail::describe_byte(static_cast<unsigned char>(raw_target.front())) +
                          " at offset 0");
    }

    NormalizedTarget out;
    const std::size_t question = raw_target.find('?');
    const std::string_view raw_path = raw_target.substr(0, question);
    if (question != std::string_view::npos) {
        const std::string_view query = raw_target.substr(question + 1);
        if (auto checked = check_query(query, question + 1); !checked) return checked.error();
        out.query = std::string(query);
        out.has_query = true;
    }

    auto chars = detail::canonicalize_path_chars(
        raw_path, {.error_code = kCode,
                   .label = "path",
                   .allow_encoded_slash = options.allow_encoded_slash,
                   .offset_base = 0});
    if (!chars) return chars.error();
    out.path = detail::remove_dot_segments(*chars);

    const std::size_t normalized_size =
        out.path.size() + (out.has_query ? 1 + out.query.size() : 0);
    if (normalized_size > kMaxRequestTargetBytes) {
        return path_error("the normalized request target is " + std::to_string(normalized_size) +
                          " bytes (raw characters were percent-encoded), over the limit of " +
                          std::to_string(kMaxRequestTargetBytes));
    }
    return out;
}

}  // namespace cloakroom::policy
