// The network of a netns sandbox, set up by its first process: `ip` and `nft` run with
// CAP_NET_ADMIN over the namespace, then the listening sockets the gateway will accept on.
#pragma once

#include <string>
#include <vector>

#include "sandbox/net_rules.hpp"
#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {

struct Listener {
    std::string kind;  // "forward", "transparent", "dns", "cdp", "database:NAME", "connector"
                       // (the hand-over's names)
    UniqueFd fd;
};

// Brings lo up, adds the routes and loads the nftables rules. Errors "sandbox.net" naming the
// tool and its output ("nft not found: install the Debian package nftables").
Result<void> configure_network(const SandboxPorts& ports);

// Only brings lo up (no gateway: --no-network).
Result<void> loopback_only();

// forward 127.0.0.1, transparent 127.0.0.1 and [::1], dns UDP 127.0.0.1, the DevTools proxy at
// 127.0.0.1 and [::1] (when ports.cdp), then each database at its own address. Errors
// "sandbox.net".
Result<std::vector<Listener>> open_listeners(const SandboxPorts& ports);

}  // namespace cloakroom::sandbox
