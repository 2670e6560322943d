#include "token/host_caveat.hpp"

#include "config/authority.hpp"

namespace cloakroom::token {

std::string RoutedHost::text() const {
    const bool v6 = host.find(':') != std::string::npos;
    const std::string shown = v6 ? "[" + host + "]" : host;
    return port == 0 ? shown : shown + ":" + std::to_string(port);
}

bool parse_host_port(std::string_view text, ParsedHost& out) {
    // The configuration's own parser, so an entry and a service key normalize alike.
    auto authority = config::parse_authority(text);
    if (!authority.ok()) return false;
    out.host = authority->host;
    out.port = authority->port.value_or(0);
    return true;
}

bool host_entry_allows(std::string_view entry, const RoutedHost& routed) {
    // Runs for every request with a host caveat. An entry written exactly as the routed host
    // (already normalized: lower-case, no trailing dot, no port) parses to itself, so equality
    // decides without the parser; IPv6 hosts (':') always take the parser, which needs brackets.
    if (!entry.empty() && entry == routed.host && entry.find(':') == std::string_view::npos) {
        return !routed.port_keyed;
    }
    ParsedHost parsed;
    if (!parse_host_port(entry, parsed) || parsed.host != routed.host) return false;
    if (parsed.port != 0) return parsed.port == routed.port;
    return !routed.port_keyed;
}

}  // namespace cloakroom::token
