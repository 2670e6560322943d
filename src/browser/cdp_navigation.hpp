// Which URL a DevTools event on a page session says the page's top-level document is heading
// to (docs/browser.md, "DevTools protocol filter", Navigations). Chrome reports a navigation on
// the session (Page.frameRequestedNavigation, frameStartedNavigating, the Document request in
// Network.requestWillBeSent, redirects included) before the browser-level
// Target.targetInfoChanged that names the new URL; the events in between carry the new page's
// URL, response headers and cookies. The filter checks this URL against the rules first, so a
// tab leaving the rules is detached before any of that reaches the agent.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cloakroom::browser {

// The URL the main frame of target `target_id` navigates to according to event `method` with
// `params`, or nullopt when the event is not about a top-level navigation of that target (a
// sub-frame, a request for a sub-resource, a new-tab navigation, any other event). Chrome gives
// a page target's main frame the target's id.
std::optional<std::string> main_frame_navigation_url(std::string_view method,
                                                     const nlohmann::json& params,
                                                     std::string_view target_id);

}  // namespace cloakroom::browser
