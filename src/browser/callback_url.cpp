#include "browser/callback_url.hpp"

namespace cloakroom::browser {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::uint16_t> loopback_port(const BrowserUrl& url) {
    if (!url.port_explicit || url.port == 0) return std::nullopt;
    if (url.host != "localhost" && url.host != "127.0.0.1" && url.host != "[::1]") {
        return std::nullopt;
    }
    return url.port;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        const int high = hex_value(text[i + 1]);
        const int low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

static std::optional<std::uint16_t> redirect_port(const BrowserUrl& url, bool& ambiguous) {
    ambiguous = false;
    if (!url.has_query) return std::nullopt;
    std::optional<std::uint16_t> found;
    std::string_view query = url.query;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        constexpr std::string_view kKey = "redirect_uri=";
        if (!pair.starts_with(kKey)) continue;
        auto value = percent_decode(pair.substr(kKey.size()));
        if (!value) continue;
        auto redirect = parse_browser_url(*value);
        if (!redirect.ok()) continue;
        auto port = loopback_port(*redirect);
        if (!port) continue;
        if (found && *found != *port) {
            ambiguous = true;
            return std::nullopt;
        }
        found = port;
    }
    return found;
}

std::optional<std::uint16_t> callback_port(const BrowserUrl& url) {
    bool ambiguous = false;
    if (auto port = redirect_port(url, ambiguous)) return port;
    if (ambiguous) return std::nullopt;
    return loopback_port(url);
}

bool callback_from_redirect(const BrowserUrl& url) {
    bool ambiguous = false;
    return redirect_port(url, ambiguous).has_value();
}

}  // namespace cloakroom::browser
