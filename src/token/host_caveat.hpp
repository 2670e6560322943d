// What a token's host caveat (APIHost) entry allows: the one rule the gateway and
// `cloakroom verify` share (docs/tokens.md, "Hosts and ports").
//
// Services may be keyed by a bare host ("api.example.com", any port) or by "host:port" (that
// port only, and it wins over a bare key). A token must never reach a service other than the one
// it names, so:
//   * an entry "host:port" allows exactly that host on exactly that port (as agent-creds, which
//     compares the request authority, port included, to the entry);
//   * an entry "host" allows that host on a port whose service is keyed by the bare host, and
//     never one keyed "host:port": that port belongs to another service, which the token has to
//     name with its port. (agent-creds' bare entry allows the default port only; Cloakroom's
//     also allows the bare host's other ports, which are the same service and credential.)
// Hosts compare ASCII case-insensitively with a trailing dot ignored; IPv6 entries are written
// "[v6]" or "[v6]:port". An entry that is not a host[:port] allows nothing (fail closed).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cloakroom::token {

struct RoutedHost {
    std::string host;        // where the request goes: lower-case, no trailing dot, v6 unbracketed
    std::uint16_t port = 0;  // 0 = not known (then only bare entries can allow)
    // The service that owns this route is keyed "host:port" (a port-specific entry), not by the
    // bare host.
    bool port_keyed = false;

    // "host:port" ("[v6]:port"), or the host alone when the port is not known.
    std::string text() const;
};

bool host_entry_allows(std::string_view entry, const RoutedHost& routed);

// "host", "host:port", "[v6]" or "[v6]:port", normalized as service keys are (lower-case, no
// trailing dot, canonical IPv6); false when the text is not a host[:port].
struct ParsedHost {
    std::string host;
    std::uint16_t port = 0;  // 0 = none written
};
bool parse_host_port(std::string_view text, ParsedHost& out);

}  // namespace cloakroom::token
