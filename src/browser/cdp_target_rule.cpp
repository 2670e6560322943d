#include "browser/cdp_target_rule.hpp"

namespace cloakroom::browser {

bool CdpTargetRule::matches(const TargetInfo& target) const {
    if (type && !glob_match(*type, target.type)) return false;
    if (title && !glob_match(*title, target.title)) return false;
    if (url && !url->matches_text(target.url)) return false;
    return true;
}

bool CdpTargetPolicy::allows(const TargetInfo& target, bool owned) const {
    // The browser itself is never a target an agent may attach to: attaching to it would give
    // an unfiltered session over every tab.
    if (target.type == "browser") return false;
    if (owned && (target.url == "about:blank" || target.url.empty())) return true;
    for (const auto& rule : rules_) {
        if (rule.matches(target)) return true;
    }
    return false;
}

bool CdpTargetPolicy::allows_navigation(std::string_view url) const {
    if (url == "about:blank" || url.empty()) return true;
    auto parsed = parse_browser_url(url);
    if (!parsed.ok()) return false;
    for (const auto& rule : rules_) {
        if (!rule.url || rule.url->matches(*parsed)) return true;
    }
    return false;
}

}  // namespace cloakroom::browser
