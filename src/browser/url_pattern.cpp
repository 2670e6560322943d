#include "browser/url_pattern.hpp"

#include <charconv>

#include "util/ascii.hpp"

namespace cloakroom::browser {
namespace {

Error pattern_error(std::string message) {
    return make_error("browser.pattern", std::move(message));
}

std::string lower(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) out += ascii_lower(c);
    return out;
}

bool is_host_pattern_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*';
}

// Labels of `host` against labels of `pattern`, one to one; '*' stays inside its label.
bool labels_match(std::string_view pattern, std::string_view host) {
    while (true) {
        std::size_t p_dot = pattern.find('.');
        std::size_t h_dot = host.find('.');
        if (!glob_match(pattern.substr(0, p_dot), host.substr(0, h_dot))) return false;
        if (p_dot == std::string_view::npos || h_dot == std::string_view::npos) {
            return p_dot == std::string_view::npos && h_dot == std::string_view::npos;
        }
        pattern.remove_prefix(p_dot + 1);
        host.remove_prefix(h_dot + 1);
    }
}

// A pattern's port: a number from 1 to 65535, or '*' (nullopt: any port).
Result<std::optional<std::uint16_t>> parse_port_pattern(std::string_view port) {
    if (port == "*") return std::optional<std::uint16_t>{};
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
        return pattern_error("the URL pattern's port is not a number or '*'");
    }
    return std::optional<std::uint16_t>{static_cast<std::uint16_t>(value)};
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
    // Iterative matcher with one backtrack point: linear in practice, no recursion to blow up
    // on patterns like "*a*a*a*b".
    std::size_t p = 0, t = 0;
    std::size_t star = std::string_view::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++p;
            ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

Result<UrlPattern> UrlPattern::parse(std::string_view text) {
    UrlPattern pattern;
    pattern.text_ = std::string(text);
    if (text.empty()) return pattern_error("the URL pattern is empty");
    if (text.size() > kMaxBrowserUrlLength) return pattern_error("the URL pattern is too long");
    for (char c : text) {
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            return pattern_error("the URL pattern has a space, control character or backslash");
        }
    }
    std::string_view rest = text;
    std::size_t scheme_end = text.find("://");
    std::size_t colon = text.find(':');
    if (scheme_end != std::string_view::npos && scheme_end == colon) {
        std::string scheme = lower(text.substr(0, scheme_end));
        if (scheme == "*") {
        } else if (scheme == "http") {
            pattern.https_ = false;
        } else if (scheme == "https") {
            pattern.http_ = false;
        } else {
            pattern.exact_ = std::string(text);
            return pattern;
        }
        rest.remove_prefix(scheme_end + 3);
    } else if (colon != std::string_view::npos && text.find_first_of("/.") > colon &&
               text.front() != '*') {
        // "about:blank", "chrome:newtab": a scheme without "//" is never http(s).
        pattern.exact_ = std::string(text);
        return pattern;
    } else {
        pattern.http_ = false;  // no scheme: https only
    }

    std::size_t authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    if (authority_end != std::string_view::npos) {
        std::string_view path = rest.substr(authority_end);
        if (path.front() == '?') {
            pattern.path_glob_ = "/" + std::string(path);
        } else {
            pattern.path_glob_ = std::string(path);
        }
    }
    if (authority.find('@') != std::string_view::npos) {
        return pattern_error("the URL pattern has userinfo ('@')");
    }
    bool trailing_any = false;
    std::string_view host = authority;
    if (authority.starts_with('[')) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return pattern_error("the IPv6 host has no ']'");
        host = authority.substr(0, close + 1);
        std::string_view after = authority.substr(close + 1);
        if (after == "*") {
            trailing_any = true;
        } else if (after.starts_with(':')) {
            auto port = parse_port_pattern(after.substr(1));
            if (!port.ok()) return port.error();
            pattern.port_ = *port;
            trailing_any = !*port && authority_end == std::string_view::npos;
        } else if (!after.empty()) {
            return pattern_error("the URL pattern has text after its IPv6 host");
        } else {
            pattern.default_port_ = true;
        }
        pattern.host_kind_ = HostKind::Labels;
        pattern.host_ = lower(host);
    } else {
        std::size_t port_colon = authority.find(':');
        if (port_colon != std::string_view::npos) {
            host = authority.substr(0, port_colon);
            auto port = parse_port_pattern(authority.substr(port_colon + 1));
            if (!port.ok()) return port.error();
            pattern.port_ = *port;
            trailing_any = !*port && authority_end == std::string_view::npos;
        } else if (host.size() > 1 && host.ends_with('*') &&
                   authority_end == std::string_view::npos) {
            // "*github.com*": any port and any path on that host.
            host.remove_suffix(1);
            trailing_any = true;
        } else {
            pattern.default_port_ = true;
        }
        std::string host_lower = lower(host);
        if (host_lower.empty()) return pattern_error("the URL pattern has no host");
        for (char c : host_lower) {
            if (!is_host_pattern_char(c)) {
                return pattern_error(
                    "the URL pattern's host has a character outside letters, digits, '-', '.' "
                    "and '*'");
            }
        }
        if (host_lower.ends_with('.')) host_lower.pop_back();
        if (host_lower == "*") {
            pattern.host_kind_ = HostKind::Any;
        } else if (host_lower.starts_with("*.")) {
            pattern.host_kind_ = HostKind::SubdomainsOnly;
            pattern.host_ = host_lower.substr(2);
        } else if (host_lower.starts_with('*')) {
            pattern.host_kind_ = HostKind::DomainAndSubdomains;
            pattern.host_ = host_lower.substr(1);
        } else {
            pattern.host_kind_ = HostKind::Labels;
            pattern.host_ = host_lower;
        }
        if (pattern.host_kind_ != HostKind::Labels && pattern.host_kind_ != HostKind::Any &&
            (pattern.host_.empty() || pattern.host_.find('*') != std::string::npos ||
             pattern.host_.front() == '.')) {
            return pattern_error(
                "a URL pattern's leading '*' must be followed by a domain name without '*'");
        }
    }
    if (trailing_any) {
        pattern.default_port_ = false;
        pattern.port_.reset();
        pattern.path_glob_.reset();
    } else if (!pattern.path_glob_) {
        pattern.path_glob_ = "/";
    }
    return pattern;
}

bool UrlPattern::matches(const BrowserUrl& url) const {
    if (exact_) return false;
    if (url.scheme == "http" ? !http_ : !https_) return false;
    switch (host_kind_) {
        case HostKind::Any:
            break;
        case HostKind::DomainAndSubdomains:
            if (url.host != host_ &&
                !(url.host.size() > host_.size() && url.host.ends_with(host_) &&
                  url.host[url.host.size() - host_.size() - 1] == '.')) {
                return false;
            }
            break;
        case HostKind::SubdomainsOnly:
            if (!(url.host.size() > host_.size() + 1 && url.host.ends_with(host_) &&
                  url.host[url.host.size() - host_.size() - 1] == '.')) {
                return false;
            }
            break;
        case HostKind::Labels:
            if (!labels_match(host_, url.host)) return false;
            break;
    }
    if (default_port_ && url.port != (url.scheme == "https" ? 443 : 80)) return false;
    if (port_ && url.port != *port_) return false;
    if (path_glob_) {
        std::string target = url.path;
        if (url.has_query) target += "?" + url.query;
        if (!glob_match(*path_glob_, target)) return false;
    }
    return true;
}

bool UrlPattern::matches_text(std::string_view url) const {
    if (exact_) return url == *exact_;
    auto parsed = parse_browser_url(url);
    return parsed.ok() && matches(*parsed);
}

}  // namespace cloakroom::browser
