#include "browser/browser_url.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <optional>

#include "util/ascii.hpp"

namespace cloakroom::browser {
namespace {

Error url_error(std::string message) {
    return make_error("browser.url", std::move(message));
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Printable ASCII without space. Browsers strip tabs and newlines and percent-encode the rest,
// so anything outside this set would be matched in one form and opened in another.
bool is_url_char(char c) {
    return c > 0x20 && c < 0x7f;
}

// RFC 3986 path/query characters plus '%' (checked separately) and the characters browsers pass
// through literally. Excludes '\\' (a path separator to a browser), '"', '<', '>', '^', '`',
// '{', '|', '}'.
bool is_path_char(char c) {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '@':
        case '/':
        case '%':
        case '?':
            return true;
        default:
            return false;
    }
}

bool valid_percent_escapes(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') continue;
        if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    }
    return true;
}

// "." and ".." segments, literal or escaped (%2e): a browser resolves them before it fetches,
// so a path matched with them would not be the path opened.
bool has_dot_segment(std::string_view path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        std::string segment;
        for (std::size_t i = start; i < end; ++i) segment += ascii_lower(path[i]);
        if (segment == "." || segment == ".." || segment == "%2e" || segment == "%2e%2e" ||
            segment == ".%2e" || segment == "%2e.") {
            return true;
        }
        if (end == path.size()) break;
        start = end + 1;
    }
    return false;
}

// A DNS name, or an IPv4 address in canonical dotted-decimal. Anything whose last label looks
// numeric is an IPv4 address to a browser (2130706433, 0x7f.1, 127.1, 0177.0.0.1), so it must
// be exactly four decimal octets without leading zeros.
std::optional<std::string> host_problem(std::string_view host) {
    if (host.empty()) return "the host is empty";
    if (host.size() > 253) return "the host is longer than 253 characters";
    for (char c : host) {
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.')) {
            return "the host has a character outside letters, digits, '-' and '.'";
        }
    }
    if (host.front() == '.' || host.find("..") != std::string_view::npos) {
        return "the host has an empty label";
    }
    std::size_t last_dot = host.rfind('.');
    std::string_view last = last_dot == std::string_view::npos ? host : host.substr(last_dot + 1);
    bool numeric_last = !last.empty() && (is_digit(last.front()));
    if (!numeric_last) return std::nullopt;
    int parts = 0;
    std::size_t start = 0;
    while (true) {
        std::size_t end = host.find('.', start);
        std::string_view part =
            host.substr(start, end == std::string_view::npos ? end : end - start);
        if (part.empty() || part.size() > 3) return "the host is not a dotted-decimal IPv4 address";
        for (char c : part) {
            if (!is_digit(c)) return "the host is not a dotted-decimal IPv4 address";
        }
        if (part.size() > 1 && part.front() == '0') {
            return "the host is an IPv4 address with a leading zero";
        }
        int value = 0;
        std::from_chars(part.data(), part.data() + part.size(), value);
        if (value > 255) return "the host is not a dotted-decimal IPv4 address";
        ++parts;
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    if (parts != 4) return "the host is not a dotted-decimal IPv4 address";
    return std::nullopt;
}

}  // namespace

bool BrowserUrl::is_loopback() const {
    if (host == "localhost" || host.ends_with(".localhost")) return true;
    if (host.starts_with('[')) {
        std::array<unsigned char, 16> bytes{};
        std::string inner = host.substr(1, host.size() - 2);
        if (inet_pton(AF_INET6, inner.c_str(), bytes.data()) != 1) return false;
        static constexpr std::array<unsigned char, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                                 0, 0, 0, 0, 0, 0, 0, 1};
        return bytes == kLoopback;
    }
    return host.starts_with("127.") && host_problem(host) == std::nullopt;
}

std::string BrowserUrl::serialize() const {
    std::string out = scheme + "://" + host;
    if (port_explicit) out += ":" + std::to_string(port);
    out += path;
    if (has_query) out += "?" + query;
    if (has_fragment) out += "#" + fragment;
    return out;
}

Result<BrowserUrl> parse_browser_url(std::string_view text) {
    if (text.empty()) return url_error("the URL is empty");
    if (text.size() > kMaxBrowserUrlLength) {
        return url_error("the URL is longer than " + std::to_string(kMaxBrowserUrlLength) +
                         " characters");
    }
    if (text.front() == '-') return url_error("the URL starts with '-'");
    for (char c : text) {
        if (!is_url_char(c)) {
            return url_error("the URL has a space, control or non-ASCII character");
        }
        if (c == '\\') return url_error("the URL has a backslash");
    }
    std::size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) return url_error("the URL has no scheme");
    BrowserUrl url;
    for (char c : text.substr(0, colon)) url.scheme += ascii_lower(c);
    if (url.scheme != "http" && url.scheme != "https") {
        return url_error("only http and https URLs are opened, not " +
                         std::string(url.scheme.size() <= 16 ? url.scheme : "this scheme"));
    }
    std::string_view rest = text.substr(colon + 1);
    if (!rest.starts_with("//")) return url_error("the URL has no '//' after its scheme");
    rest.remove_prefix(2);

    std::size_t hash = rest.find('#');
    if (hash != std::string_view::npos) {
        url.has_fragment = true;
        url.fragment = std::string(rest.substr(hash + 1));
        rest = rest.substr(0, hash);
    }
    std::size_t authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view path_and_query =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return url_error("the URL has userinfo ('@' before the host)");
    }
    if (authority.find('%') != std::string_view::npos) {
        return url_error("the URL's host has a percent-escape");
    }

    std::string_view host_text = authority;
    std::string_view port_text;
    bool has_port = false;
    if (authority.starts_with('[')) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return url_error("the URL's IPv6 host has no ']'");
        host_text = authority.substr(0, close + 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return url_error("the URL has text after its IPv6 host");
            has_port = true;
            port_text = after.substr(1);
        }
        std::string inner(host_text.substr(1, host_text.size() - 2));
        std::array<unsigned char, 16> bytes{};
        if (inet_pton(AF_INET6, inner.c_str(), bytes.data()) != 1) {
            return url_error("the URL's IPv6 host is not an IPv6 address");
        }
        for (char c : host_text) url.host += ascii_lower(c);
    } else {
        std::size_t port_colon = authority.find(':');
        if (port_colon != std::string_view::npos) {
            host_text = authority.substr(0, port_colon);
            port_text = authority.substr(port_colon + 1);
            has_port = true;
        }
        // One trailing dot names the same host (a fully qualified name); drop it so matching
        // sees one spelling.
        if (host_text.ends_with('.')) host_text.remove_suffix(1);
        if (auto problem = host_problem(host_text)) return url_error(*problem);
        for (char c : host_text) url.host += ascii_lower(c);
    }

    url.port = url.scheme == "https" ? 443 : 80;
    if (has_port) {
        if (port_text.empty() || port_text.size() > 5) {
            return url_error("the URL's port is not a number from 1 to 65535");
        }
        unsigned value = 0;
        auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535) {
            return url_error("the URL's port is not a number from 1 to 65535");
        }
        url.port = static_cast<std::uint16_t>(value);
        url.port_explicit = true;
    }

    std::size_t question = path_and_query.find('?');
    std::string_view path = path_and_query.substr(0, question);
    if (question != std::string_view::npos) {
        url.has_query = true;
        url.query = std::string(path_and_query.substr(question + 1));
    }
    url.path = path.empty() ? "/" : std::string(path);
    for (char c : path_and_query) {
        if (!is_path_char(c)) {
            return url_error("the URL's path or query has a character browsers would re-encode");
        }
    }
    for (char c : url.fragment) {
        if (!is_path_char(c) && c != '#') {
            return url_error("the URL's fragment has a character browsers would re-encode");
        }
    }
    if (!valid_percent_escapes(path_and_query) || !valid_percent_escapes(url.fragment)) {
        return url_error("the URL has a '%' that does not start a percent-escape");
    }
    if (has_dot_segment(url.path)) return url_error("the URL's path has a '.' or '..' segment");
    return url;
}

}  // namespace cloakroom::browser
