#include "policy/dot_segments.hpp"

#include <vector>

namespace cloakroom::policy::detail {

std::string remove_dot_segments(std::string_view path) {
    std::vector<std::string_view> kept;
    bool trailing_slash = false;

    // Skip the leading '/'; every segment is then the text up to the next '/' or the end.
    std::size_t start = path.empty() ? 0 : 1;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        const bool last = end == std::string_view::npos;
        if (last) end = path.size();
        const std::string_view segment = path.substr(start, end - start);

        if (segment == "..") {
            if (!kept.empty()) kept.pop_back();
            trailing_slash = last;
        } else if (segment.empty() || segment == ".") {
            trailing_slash = last;
        } else {
            kept.push_back(segment);
            trailing_slash = false;
        }
        if (last) break;
        start = end + 1;
    }

    std::string out;
    out.reserve(path.size());
    for (const std::string_view segment : kept) {
        out.push_back('/');
        out.append(segment);
    }
    if (out.empty() || trailing_slash) out.push_back('/');
    return out;
}

}  // namespace cloakroom::policy::detail
