// URL allow-list patterns of `[[browser_target]] url` and `[[cdp_target]] url`, written as in
// agent-creds (`https://claude.ai/oauth/authorize*`, `http://localhost:*`, `*github.com*`) but
// matched on the parsed URL's parts, never on the raw string: agent-creds' `*github.com*`
// matches `https://evil.example/?github.com`; here it matches github.com and its subdomains
// only (docs/browser.md, "Matching URLs").
//
//   pattern   = [scheme "://"] host [":" port] [path]   |   host "*"
//   scheme    = "http" | "https" | "*"        absent: https only
//   host      = "*"                           any host
//             | "*" name                      name and its subdomains (whole labels only)
//             | "*." name                     subdomains of name only
//             | labels                        a '*' inside a label matches within that label
//   port      = digits | "*"                  absent: the scheme's default port
//   path      = "/" ...                       '*' matches any run of characters, '/' and '?'
//                                             included, against path plus "?query"
// Without a path the URL's path must be "/" with no query, except after a trailing '*'
// (`host*`, `host:*`), which allows any port (for `host*`) and any path.
// A pattern whose scheme is not http, https or '*' (e.g. `about:blank`) matches that exact
// string only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "browser/browser_url.hpp"
#include "util/result.hpp"

namespace cloakroom::browser {

class UrlPattern {
  public:
    // Errors have code "browser.pattern" and name the problem.
    static Result<UrlPattern> parse(std::string_view text);

    bool matches(const BrowserUrl& url) const;
    // For URLs that may not be http(s) (DevTools target URLs such as about:blank): parses and
    // matches, or compares an exact-string pattern.
    bool matches_text(std::string_view url) const;

    const std::string& text() const { return text_; }

  private:
    enum class HostKind { Any, DomainAndSubdomains, SubdomainsOnly, Labels };

    std::string text_;
    std::optional<std::string> exact_;  // non-http pattern: exact string
    bool http_ = true, https_ = true;
    HostKind host_kind_ = HostKind::Labels;
    std::string host_;  // lower case; for the domain kinds, the name without "*" / "*."
    std::optional<std::uint16_t> port_;     // nullopt: any port
    bool default_port_ = false;             // port must be the scheme's default
    std::optional<std::string> path_glob_;  // nullopt: any path
};

// '*' matches any run of characters (including none); every other character matches itself.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace cloakroom::browser
