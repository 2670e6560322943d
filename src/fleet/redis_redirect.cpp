#include "fleet/redis_redirect.hpp"

#include <charconv>

namespace cloakroom::fleet {
namespace {

template <class T>
std::optional<T> to_number(std::string_view text, T max) {
    T value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<Redirect> parse_redirect(std::string_view error, std::string_view current_host) {
    Redirect out;
    if (error.starts_with("MOVED ")) {
        out.kind = Redirect::Kind::Moved;
        error.remove_prefix(6);
    } else if (error.starts_with("ASK ")) {
        out.kind = Redirect::Kind::Ask;
        error.remove_prefix(4);
    } else {
        return std::nullopt;
    }
    const auto space = error.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto slot = to_number<unsigned>(error.substr(0, space), 16383);
    if (!slot) return std::nullopt;
    out.slot = *slot;
    const std::string_view address = error.substr(space + 1);
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view host = address.substr(0, colon);
    const auto port = to_number<unsigned>(address.substr(colon + 1), 65535);
    if (!port || *port == 0) return std::nullopt;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) host = current_host;
    if (host.empty() || host == "?") return std::nullopt;
    for (const char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':' || c == '_';
        if (!ok) return std::nullopt;
    }
    out.node.host = std::string(host);
    out.node.port = static_cast<std::uint16_t>(*port);
    return out;
}

}  // namespace cloakroom::fleet
