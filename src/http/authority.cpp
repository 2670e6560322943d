#include "http/authority.hpp"

#include <cstddef>

#include "http/head_text.hpp"

namespace cloakroom::http::detail {
namespace {

constexpr std::size_t kMaxPortDigits = 5;
constexpr unsigned kMaxPort = 65535;

bool is_alnum(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::optional<std::string> name_problem(std::string_view host) {
    if (host.empty()) return "the host is empty";
    for (char c : host) {
        if (!is_alnum(c) && c != '-' && c != '.' && c != '_') {
            return "the host contains " + quote_byte(c);
        }
    }
    return std::nullopt;
}

// Bracket contents are only checked for their alphabet here; the address itself is parsed
// (strictly) by whoever resolves it. '%' (zone ids) is outside the alphabet on purpose.
std::optional<std::string> ipv6_problem(std::string_view inside) {
    if (inside.empty()) return "the IPv6 address in brackets is empty";
    for (char c : inside) {
        if (!is_hex(c) && c != ':' && c != '.') {
            return "the IPv6 address contains " + quote_byte(c);
        }
    }
    return std::nullopt;
}

std::optional<std::string> port_problem(std::string_view port) {
    if (port.empty()) return "the port after ':' is empty";
    if (port.size() > kMaxPortDigits) return "the port has more than 5 digits";
    unsigned value = 0;
    for (char c : port) {
        if (!is_digit(c)) return "the port contains " + quote_byte(c);
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > kMaxPort) return "the port is above 65535";
    return std::nullopt;
}

}  // namespace

std::optional<std::string> authority_problem(std::string_view authority, PortRule port) {
    std::string_view host = authority;
    std::string_view rest;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return "the '[' of an IPv6 address is not closed";
        if (auto problem = ipv6_problem(authority.substr(1, close - 1))) return problem;
        host = authority.substr(0, close + 1);
        rest = authority.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return "unexpected text after ']'";
    } else {
        const std::size_t colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) rest = authority.substr(colon);
        if (auto problem = name_problem(host)) return problem;
    }
    if (rest.empty()) {
        if (port == PortRule::Required) return "a port is required (host:port)";
        return std::nullopt;
    }
    return port_problem(rest.substr(1));
}

}  // namespace cloakroom::http::detail
