#include "sandbox/net_rules.hpp"

#include <string>

namespace cloakroom::sandbox {

std::string ip_batch() {
    std::string batch;
    batch += "link set lo up\n";
    batch += std::string("address add ") + kSourceAddress + "/32 dev lo\n";
    batch += "route add default dev lo\n";
    batch += "route add ::/0 dev lo\n";
    return batch;
}

std::string nft_ruleset(const SandboxPorts& ports) {
    const std::string forward = std::to_string(ports.forward);
    const std::string transparent = std::to_string(ports.transparent);
    const std::string dns = std::to_string(ports.dns);
    std::string rules;
    rules += "table inet cloakroom {\n";
    // nat output runs before routing completes: a connection to the gateway's own sockets stays
    // as it is, every other TCP connection (any address, IPv4 or IPv6, any port, loopback
    // included) is redirected to the transparent listener, which judges it by its original
    // destination and TLS server name. DNS to any server goes to the gateway's resolver.
    rules += "  chain nat_out {\n";
    rules += "    type nat hook output priority -100; policy accept;\n";
    rules += "    ip daddr 127.0.0.1 tcp dport { " + forward + ", " + transparent + " } accept\n";
    rules += "    ip6 daddr ::1 tcp dport " + transparent + " accept\n";
    if (ports.cdp != 0) {
        const std::string cdp = std::to_string(ports.cdp);
        rules += "    ip daddr 127.0.0.1 tcp dport " + cdp + " accept\n";
        rules += "    ip6 daddr ::1 tcp dport " + cdp + " accept\n";
    }
    // The callback connector (OAuth callbacks into the sandbox) reaches its listeners as they are.
    rules += "    meta mark " + std::to_string(kConnectorMark) + " accept\n";
    for (const auto& db : ports.databases) {
        rules += std::string("    ") + (db.ipv6 ? "ip6" : "ip") + " daddr " + db.host +
                 " tcp dport " + std::to_string(db.port) + " accept\n";
    }
    rules += "    meta l4proto tcp redirect to :" + transparent + "\n";
    rules += "    meta nfproto ipv4 udp dport 53 redirect to :" + dns + "\n";
    rules += "  }\n";
    // filter output: UDP only to the resolver (and its answers); QUIC and everything else is
    // dropped, so clients fall back to TCP. Other protocols than TCP and UDP (ICMP, SCTP...)
    // have nowhere to go on a loopback-only network; they are dropped too.
    rules += "  chain filter_out {\n";
    rules += "    type filter hook output priority 0; policy drop;\n";
    rules += "    meta l4proto tcp accept\n";
    rules += "    ip daddr 127.0.0.1 udp dport " + dns + " accept\n";
    rules += "    ip saddr 127.0.0.1 udp sport " + dns + " accept\n";
    rules += "  }\n";
    rules += "}\n";
    return rules;
}

}  // namespace cloakroom::sandbox
