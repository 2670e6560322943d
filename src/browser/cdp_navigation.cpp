#include "browser/cdp_navigation.hpp"

namespace cloakroom::browser {
namespace {

using nlohmann::json;

const json* object_field(const json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_object() ? &*it : nullptr;
}

std::optional<std::string> string_field(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

bool names_frame(const json& object, const char* key, std::string_view target_id) {
    auto frame = string_field(object, key);
    return frame && *frame == target_id;
}

}  // namespace

std::optional<std::string> main_frame_navigation_url(std::string_view method, const json& params,
                                                     std::string_view target_id) {
    if (!params.is_object() || target_id.empty()) return std::nullopt;
    if (method == "Page.frameRequestedNavigation") {
        // A link opened in a new tab or window becomes a new target: the target rules see it.
        auto disposition = string_field(params, "disposition");
        if (disposition && *disposition != "currentTab") return std::nullopt;
        return names_frame(params, "frameId", target_id) ? string_field(params, "url")
                                                         : std::nullopt;
    }
    if (method == "Page.frameScheduledNavigation" || method == "Page.frameStartedNavigating" ||
        method == "Page.navigatedWithinDocument") {
        return names_frame(params, "frameId", target_id) ? string_field(params, "url")
                                                         : std::nullopt;
    }
    if (method == "Page.frameNavigated") {
        const json* frame = object_field(params, "frame");
        if (!frame || frame->contains("parentId") || !names_frame(*frame, "id", target_id))
            return std::nullopt;
        return string_field(*frame, "url");
    }
    if (method == "Network.requestWillBeSent" || method == "Network.responseReceived") {
        // The document request of the main frame, and each redirect of it (a redirect is a new
        // requestWillBeSent with the new URL).
        auto type = string_field(params, "type");
        if (!type || *type != "Document" || !names_frame(params, "frameId", target_id))
            return std::nullopt;
        const json* carrier =
            object_field(params, method == "Network.requestWillBeSent" ? "request" : "response");
        return carrier ? string_field(*carrier, "url") : std::nullopt;
    }
    return std::nullopt;
}

}  // namespace cloakroom::browser
