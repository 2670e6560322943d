#include "config/authority.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace cloakroom::config {
namespace {

Error bad(std::string_view text, std::string_view why) {
    return make_error("config.host", "\"" + std::string(text) + "\" " + std::string(why));
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_label_char(char c) {
    // '_' is not valid in host names but occurs in real service names (e.g. SRV-style hosts).
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
}

// Returns the port (0..65535), or nullopt for empty/non-digit/out-of-range text.
std::optional<std::uint32_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    std::uint32_t port = 0;
    for (char c : text) {
        if (!is_digit(c)) return std::nullopt;
        port = port * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (port > 65535) return std::nullopt;
    return port;
}

std::optional<std::string> canonical_ipv6(const std::string& text) {
    in6_addr address{};
    if (inet_pton(AF_INET6, text.c_str(), &address) != 1) return std::nullopt;
    std::array<char, INET6_ADDRSTRLEN> buffer{};
    if (inet_ntop(AF_INET6, &address, buffer.data(), buffer.size()) == nullptr) return std::nullopt;
    return std::string(buffer.data());
}

Result<std::string> check_dns_name(std::string_view original, std::string name) {
    if (name.empty()) return bad(original, "has an empty host name");
    if (name.size() > 253) return bad(original, "is longer than 253 characters");
    const bool all_numeric =
        std::all_of(name.begin(), name.end(), [](char c) { return is_digit(c) || c == '.'; });
    if (all_numeric) {
        // Looks like IPv4: only a well-formed dotted quad is acceptable ("1.2.3", "999.0.0.1"
        // would be resolved differently by different libraries).
        in_addr address{};
        if (inet_pton(AF_INET, name.c_str(), &address) != 1) {
            return bad(original, "is not a valid IPv4 address");
        }
        return name;
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('.', start);
        if (end == std::string::npos) end = name.size();
        const std::string_view label(name.data() + start, end - start);
        if (label.empty()) return bad(original, "has an empty label (\"..\" or a leading dot)");
        if (label.size() > 63) return bad(original, "has a label longer than 63 characters");
        if (label.front() == '-' || label.back() == '-') {
            return bad(original, "has a label starting or ending with '-'");
        }
        for (char c : label) {
            if (!is_label_char(c)) {
                return bad(original, "contains '" + std::string(1, c) +
                                         "', which is not allowed in a host name");
            }
        }
        start = end + 1;
    }
    return name;
}

Result<Authority> parse(std::string_view text, bool port_required, bool allow_port_zero) {
    if (text.empty()) return bad(text, "is empty");
    if (text.find("://") != std::string_view::npos) {
        return bad(text, "has a scheme; write only the host name (e.g. \"api.example.com\")");
    }
    for (char c : text) {
        if (c == '/' || c == '?' || c == '#') return bad(text, "has a path; write only the host");
        if (c == '@') return bad(text, "has user info ('@'); write only the host");
        if (c == '*') return bad(text, "has a wildcard; list each host explicitly");
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return bad(text, "contains whitespace or a control character");
        }
    }

    Authority result;
    std::string_view port_text;
    bool has_port = false;
    if (text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) return bad(text, "has '[' without ']'");
        auto v6 = canonical_ipv6(std::string(text.substr(1, close - 1)));
        if (!v6) return bad(text, "is not a valid IPv6 address");
        result.host = *v6;
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return bad(text, "has text after ']' that is not \":port\"");
            port_text = rest.substr(1);
            has_port = true;
        }
    } else {
        const std::size_t colon = text.find(':');
        if (colon != std::string_view::npos &&
            text.find(':', colon + 1) != std::string_view::npos) {
            return bad(text, "looks like an IPv6 address; write it in brackets (\"[::1]\")");
        }
        std::string_view host_text = text.substr(0, colon);
        if (colon != std::string_view::npos) {
            port_text = text.substr(colon + 1);
            has_port = true;
        }
        std::string host;
        host.reserve(host_text.size());
        for (char c : host_text) host.push_back(lower(c));
        if (!host.empty() && host.back() == '.') host.pop_back();  // FQDN form, same host
        auto checked = check_dns_name(text, std::move(host));
        if (!checked.ok()) return checked.error();
        result.host = std::move(*checked);
    }

    if (has_port) {
        auto port = parse_port(port_text);
        if (!port || (*port == 0 && !allow_port_zero)) {
            return bad(text, "has an invalid port (use 1-65535)");
        }
        result.port = static_cast<std::uint16_t>(*port);
    } else if (port_required) {
        return bad(text, "needs a port (host:port, e.g. \"127.0.0.1:3128\")");
    }
    return result;
}

}  // namespace

std::string Authority::text() const {
    std::string out = is_ipv6() ? "[" + host + "]" : host;
    if (port) out += ":" + std::to_string(*port);
    return out;
}

Result<Authority> parse_authority(std::string_view text) {
    return parse(text, false, false);
}

Result<Authority> parse_listen_address(std::string_view text) {
    return parse(text, true, true);
}

}  // namespace cloakroom::config
