// A URL an agent asks the host's browser to open, or a DevTools target's URL, parsed into the
// parts the browser bridge's allow-lists match on (docs/browser.md, "Matching URLs").
//
// The grammar is deliberately narrower than what a browser accepts: http and https only, no
// userinfo, no backslashes, no control characters or spaces, no percent-escapes or non-DNS
// characters in the host, IPv4 only in dotted-decimal form, no dot segments in the path.
// Everything a browser would reinterpret (WHATWG URL parsing strips tabs, turns `\` into `/`,
// decodes `%2e` in hosts, reads `2130706433` as 127.0.0.1) is refused instead of normalized,
// so the URL that is matched is the URL the browser opens: `serialize()` rebuilds it from the
// parsed parts and that string, never the original, is what the bridge hands on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::browser {

// Longest URL the bridge accepts; OAuth authorize URLs with PKCE and state stay far below.
inline constexpr std::size_t kMaxBrowserUrlLength = 8192;

struct BrowserUrl {
    std::string scheme;  // "http" or "https", lower case
    std::string host;    // lower case; IPv6 literals keep their brackets
    std::uint16_t port = 0;
    bool port_explicit = false;  // the URL named its port (kept when serializing)
    std::string path;            // starts with '/'; may hold percent-escapes
    std::string query;           // without '?'; empty when absent
    bool has_query = false;
    std::string fragment;  // without '#'; never matched, kept when serializing
    bool has_fragment = false;

    bool is_loopback() const;  // localhost, 127.0.0.0/8 or [::1]
    std::string serialize() const;
};

// Errors have code "browser.url" and say what is wrong without quoting the URL.
Result<BrowserUrl> parse_browser_url(std::string_view text);

}  // namespace cloakroom::browser
