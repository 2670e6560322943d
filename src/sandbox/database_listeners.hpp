// The database gateways a netns sandbox reaches (docs/sandbox.md, "Databases"): for each
// [[database]] the session's token may use, a listening socket inside the namespace at the
// address and port the gateway listens on outside, so a client configured for the host
// (`psql -h 127.0.0.1 -p 6432`, a DATABASE_URL) works unchanged. The gateway adopts it like the
// forward and transparent listeners. Pure: the plan, not the sockets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "sandbox/net_rules.hpp"

namespace cloakroom::sandbox {

struct DatabasePlan {
    std::vector<SandboxDatabase> listeners;
    // Databases in scope that the sandbox cannot offer, each with why ("database \"app\"
    // listens on 10.0.0.5:6432, not a loopback address: not reachable from the sandbox").
    std::vector<std::string> warnings;
};

// `names`: the [[database]] names of the session's scope (unknown names are skipped; the scope
// was checked against the same configuration). A wildcard listen address is offered on the
// loopback address of its family; a non-loopback address, port 0 (chosen by the kernel at the
// gateway's start) and a port the sandbox's own listeners take are warnings, not errors.
DatabasePlan plan_database_listeners(const config::Config& config,
                                     const std::vector<std::string>& names,
                                     const SandboxPorts& ports);

// "app at 127.0.0.1:6432 (postgres), cache at [::1]:6380 (redis)".
std::string describe(const std::vector<SandboxDatabase>& listeners);

}  // namespace cloakroom::sandbox
