#include "browser/open_decision.hpp"

#include "browser/callback_url.hpp"

namespace cloakroom::browser {

OpenDecision decide_open(std::string_view text, const std::vector<UrlPattern>& targets) {
    OpenDecision decision;
    auto url = parse_browser_url(text);
    if (!url.ok()) {
        decision.reason = url.error().message;
        return decision;
    }
    decision.host = url->host;
    if (url->port_explicit) decision.host += ":" + std::to_string(url->port);
    decision.path = url->path;
    if (targets.empty()) {
        decision.reason = "no [[browser_target]] is configured, so no URL is opened";
        return decision;
    }
    for (const auto& target : targets) {
        if (target.matches(*url)) {
            decision.allowed = true;
            decision.url = url->serialize();
            decision.callback_port = callback_port(*url);
            decision.callback_from_redirect = callback_from_redirect(*url);
            return decision;
        }
    }
    decision.reason = "the URL matches no [[browser_target]]";
    return decision;
}

}  // namespace cloakroom::browser
