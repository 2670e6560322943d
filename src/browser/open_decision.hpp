// Whether a URL an agent asks to open goes to the host's browser (docs/browser.md, "Opening
// URLs"): it must parse under the bridge's URL grammar and match a [[browser_target]]. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "browser/url_pattern.hpp"

namespace cloakroom::browser {

struct OpenDecision {
    bool allowed = false;
    std::string url;     // what to open: rebuilt from the parsed parts (allowed only)
    std::string reason;  // why refused; never quotes the URL
    // For the audit: the host (with ":port" when not the default) and the path without its query,
    // which may carry an OAuth state or code. Empty when the URL did not parse.
    std::string host;
    std::string path;
    // Allowed only: the loopback port an OAuth provider will redirect the browser to
    // (browser/callback_url.hpp), if the URL names one.
    std::optional<std::uint16_t> callback_port;
    bool callback_from_redirect = false;  // the port came from redirect_uri, not the URL itself
};

OpenDecision decide_open(std::string_view text, const std::vector<UrlPattern>& targets);

}  // namespace cloakroom::browser
