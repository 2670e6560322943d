#include "token/evaluate.hpp"

#include <cstdio>
#include <optional>

#include "policy/path_pattern.hpp"
#include "policy/request_path.hpp"
#include "token/text.hpp"

namespace cloakroom::token {
namespace {

using detail::list_text;
using detail::quote;

std::string ascii_lower(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

std::string ascii_upper(std::string s) {
    for (char& c : s) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
}

std::string time_text(std::int64_t t) {
    auto text = detail::rfc3339_utc(t);
    return text ? *text : std::to_string(t) + " (unix)";
}

bool any_equal(const std::optional<std::vector<std::string>>& list, const std::string& value,
               std::string (*fold)(std::string)) {
    if (!list) return false;
    for (const auto& entry : *list) {
        if (fold(entry) == value) return true;
    }
    return false;
}

// The request path as caveats see it, normalized once per evaluation.
struct PathView {
    bool normalized_ok = false;
    std::string path;   // normalized path (no query) when normalized_ok
    std::string error;  // normalization error otherwise
};

PathView normalize(const std::string& raw) {
    auto target = policy::normalize_target(raw);
    if (!target) return {false, {}, target.error().message};
    return {true, target->path, {}};
}

bool path_allowed(const Paths& caveat, const PathView& view) {
    if (!view.normalized_ok || !caveat.patterns) return false;
    for (const auto& text : *caveat.patterns) {
        // A pattern Cloakroom cannot compile (e.g. empty, or not starting with '/') could never
        // match a normalized path under agent-creds' rules either; it simply matches nothing.
        auto pattern = policy::PathPattern::compile(text);
        if (pattern && pattern->matches(view.path)) return true;
    }
    return false;
}

}  // namespace

std::vector<std::string> evaluate_caveats(const std::vector<Caveat>& caveats,
                                          const AccessRequest& request) {
    std::vector<std::string> denials;
    const std::string host = ascii_lower(request.host);
    const std::string method = ascii_upper(request.method);
    std::optional<PathView> path_view;

    for (const auto& caveat : caveats) {
        if (const auto* vw = std::get_if<ValidityWindow>(&caveat)) {
            if (request.time_unix < vw->not_before) {
                denials.push_back("token not valid until " + time_text(vw->not_before));
            } else if (request.time_unix > vw->not_after) {
                denials.push_back("token only valid until " + time_text(vw->not_after));
            }
        } else if (const auto* hosts = std::get_if<Hosts>(&caveat)) {
            if (!any_equal(hosts->hosts, host, ascii_lower)) {
                denials.push_back("host " + quote(request.host) + " not in allowed list " +
                                  list_text(hosts->hosts));
            }
        } else if (const auto* methods = std::get_if<Methods>(&caveat)) {
            if (!any_equal(methods->methods, method, ascii_upper)) {
                denials.push_back("method " + quote(method) + " not in allowed list " +
                                  list_text(methods->methods));
            }
        } else if (const auto* paths = std::get_if<Paths>(&caveat)) {
            if (!path_view) path_view = normalize(request.path);
            if (!path_view->normalized_ok) {
                denials.push_back("path " + quote(request.path) +
                                  " cannot be checked against allowed patterns " +
                                  list_text(paths->patterns) + ": " + path_view->error);
            } else if (!path_allowed(*paths, *path_view)) {
                denials.push_back("path " + quote(path_view->path) +
                                  " does not match allowed patterns " + list_text(paths->patterns));
            }
        } else if (std::holds_alternative<Attestation>(caveat)) {
            // Marker inside 3P tickets; the discharge's existence is the attestation.
        } else {
            char type_hex[32];
            std::snprintf(type_hex, sizeof type_hex, "0x%llx",
                          static_cast<unsigned long long>(caveat_type(caveat)));
            denials.push_back(std::string("bad caveat ") +
                              std::string(caveat_type_name(caveat_type(caveat))) + " (type " +
                              type_hex + ")");
        }
    }
    return denials;
}

}  // namespace cloakroom::token
