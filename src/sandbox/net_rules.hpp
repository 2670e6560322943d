// What the network namespace of a netns sandbox looks like (docs/sandbox.md, "Network"): the
// loopback interface only, a default route through it so that a connection to any address is
// routed locally, and nftables rules that send every TCP connection to the transparent
// listener, DNS to the gateway's resolver and drop all other UDP. Pure text: the launcher feeds
// it to `ip -batch -` and `nft -f -` inside the namespace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cloakroom::sandbox {

// A database gateway's listener inside the sandbox (sandbox/database_listeners.hpp).
struct SandboxDatabase {
    std::string name;      // the [[database]] name: the hand-over kind "database:<name>"
    std::string protocol;  // "postgres", "mysql", "redis" (for messages)
    std::string host;      // a loopback IP literal: 127.x.y.z or ::1
    std::uint16_t port = 0;
    bool ipv6 = false;
};

// The loopback ports of the sockets the sandbox hands to the gateway.
struct SandboxPorts {
    std::uint16_t forward = 3128;       // HTTPS_PROXY (CONNECT / absolute-form)
    std::uint16_t transparent = 15001;  // every other TCP connection lands here
    std::uint16_t dns = 53;             // UDP resolver
    // The DevTools proxy inside (127.0.0.1 and [::1]; docs/browser.md, "Inside cloakroom run");
    // 0 = none.
    std::uint16_t cdp = 0;
    // The database gateways of the session's scope; a connection to any other address or port
    // (another database's included) goes to the transparent listener, which refuses it.
    std::vector<SandboxDatabase> databases;
};

// Where a netns sandbox reaches the DevTools proxy: Chrome's customary debugging port, so
// tools that default to localhost:9222 work unchanged.
inline constexpr std::uint16_t kSandboxCdpPort = 9222;

// The socket mark of the callback connector's connections (sandbox/connector.hpp): nftables
// leaves them alone, so the connector reaches the sandbox's own listeners on loopback. Setting
// SO_MARK needs CAP_NET_ADMIN, which the command never has.
inline constexpr std::uint32_t kConnectorMark = 0xc10a;

// The address a packet to a non-local destination leaves with: a documentation address
// (RFC 5737) on the loopback interface. Without a global-scope address there, the kernel
// drops IPv4 packets from 127.0.0.1 to a routed destination before nftables can redirect them.
inline constexpr const char* kSourceAddress = "192.0.2.1";

// `ip -batch` input: lo up, the source address, a default route through lo (IPv4 and IPv6).
std::string ip_batch();

// `nft -f` input: one inet table (IPv4 and IPv6 alike).
std::string nft_ruleset(const SandboxPorts& ports);

}  // namespace cloakroom::sandbox
