// The callback connector (docs/browser.md, "OAuth callbacks"): a process inside a netns
// sandbox that the gateway asks for TCP connections to the sandbox's own loopback ports
// (bridge/sandbox_connector.hpp has the wire format). Started by the sandbox's pid 1 before the
// command; it holds CAP_NET_ADMIN of the sandbox's user namespace only to mark its sockets
// (kConnectorMark), which nftables leaves alone instead of redirecting them to the transparent
// listener. It connects only to 127.0.0.1 and ::1, never to the ports of the sandbox's own
// gateway listeners, and only where a process of the sandbox listens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {

struct ConnectRequest {
    std::uint16_t port = 0;
    bool ipv6_first = false;
};

// "connect PORT 4|6", PORT 1..65535 in decimal without leading zeros; nullopt otherwise. Pure.
std::optional<ConnectRequest> parse_connect_request(std::string_view text);

// Forks the connector (which never returns) and gives back the gateway's end of its socket.
// `refused_ports`: the sandbox's own gateway listeners (the forward proxy, the transparent
// listener, the DevTools proxy, databases), never connected to. `close_in_child`: descriptors
// the connector must not keep (pid 1's channel). Errors "sandbox.connector".
Result<UniqueFd> start_connector(std::vector<std::uint16_t> refused_ports,
                                 const std::vector<int>& close_in_child);

}  // namespace cloakroom::sandbox
