// Which DevTools targets (tabs, workers, iframes) an agent may see and drive: the
// `[[cdp_target]]` rules (docs/browser.md, "DevTools targets"). Every field a rule sets must
// match; a rule with no fields matches every target. No rules: nothing is visible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "browser/url_pattern.hpp"

namespace cloakroom::browser {

// What Chrome reports about a target (Target.TargetInfo / one entry of /json/list).
struct TargetInfo {
    std::string id;
    std::string type;  // "page", "iframe", "service_worker", "browser", ...
    std::string title;
    std::string url;
};

struct CdpTargetRule {
    std::optional<std::string> type;   // glob
    std::optional<std::string> title;  // glob
    std::optional<UrlPattern> url;     // on the parsed URL (url_pattern.hpp)

    bool matches(const TargetInfo& target) const;
};

class CdpTargetPolicy {
  public:
    CdpTargetPolicy() = default;
    explicit CdpTargetPolicy(std::vector<CdpTargetRule> rules) : rules_(std::move(rules)) {}

    // `owned`: the agent created this target through the bridge. Such a target is visible while
    // it shows about:blank, so `new_page()` followed by `goto(allowed)` works; once it navigates
    // anywhere else, the rules decide like for every other target.
    bool allows(const TargetInfo& target, bool owned = false) const;

    // Whether the agent may create or navigate a tab to `url`: about:blank, or an http(s) URL
    // that a rule's URL pattern (or a rule without one) admits. file:, chrome:, javascript:,
    // data: and other schemes never.
    bool allows_navigation(std::string_view url) const;

    bool empty() const { return rules_.empty(); }

  private:
    std::vector<CdpTargetRule> rules_;
};

}  // namespace cloakroom::browser
