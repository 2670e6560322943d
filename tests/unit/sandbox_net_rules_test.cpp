#include <gtest/gtest.h>

#include "sandbox/net_rules.hpp"

namespace cloakroom::sandbox {
namespace {

TEST(SandboxNetRules, EveryTcpConnectionGoesToTheTransparentListener) {
    const std::string rules = nft_ruleset(SandboxPorts{});
    // inet family: the same rules for IPv4 and IPv6.
    EXPECT_NE(rules.find("table inet cloakroom"), std::string::npos);
    EXPECT_NE(rules.find("type nat hook output"), std::string::npos);
    EXPECT_NE(rules.find("meta l4proto tcp redirect to :15001"), std::string::npos);
    // Only the gateway's own sockets are left alone.
    EXPECT_NE(rules.find("ip daddr 127.0.0.1 tcp dport { 3128, 15001 } accept"), std::string::npos);
    EXPECT_NE(rules.find("ip6 daddr ::1 tcp dport 15001 accept"), std::string::npos);
}

TEST(SandboxNetRules, UdpOnlyToTheResolverEverythingElseDropped) {
    const std::string rules = nft_ruleset(SandboxPorts{});
    EXPECT_NE(rules.find("udp dport 53 redirect to :53"), std::string::npos);
    EXPECT_NE(rules.find("type filter hook output priority 0; policy drop;"), std::string::npos);
    EXPECT_NE(rules.find("ip daddr 127.0.0.1 udp dport 53 accept"), std::string::npos);
    // No rule accepts UDP in general (QUIC must fall back to TCP).
    EXPECT_EQ(rules.find("meta l4proto udp accept"), std::string::npos);
}

TEST(SandboxNetRules, PortsComeFromTheSpec) {
    const std::string rules = nft_ruleset(SandboxPorts{4000, 4001, 5353, 0, {}});
    EXPECT_NE(rules.find("tcp dport { 4000, 4001 } accept"), std::string::npos);
    EXPECT_NE(rules.find("redirect to :4001"), std::string::npos);
    EXPECT_NE(rules.find("redirect to :5353"), std::string::npos);
    EXPECT_EQ(rules.find("15001"), std::string::npos);
}

TEST(SandboxNetRules, DatabaseListenersAreLeftAloneAtTheirOwnAddress) {
    SandboxPorts ports;
    ports.databases = {{"pg", "postgres", "127.0.0.1", 6432, false},
                       {"cache", "redis", "127.0.0.7", 6380, false},
                       {"my", "mysql", "::1", 3307, true}};
    const std::string rules = nft_ruleset(ports);
    EXPECT_NE(rules.find("    ip daddr 127.0.0.1 tcp dport 6432 accept\n"), std::string::npos);
    EXPECT_NE(rules.find("    ip daddr 127.0.0.7 tcp dport 6380 accept\n"), std::string::npos);
    EXPECT_NE(rules.find("    ip6 daddr ::1 tcp dport 3307 accept\n"), std::string::npos);
    // Before the catch-all redirect, or they would never match.
    EXPECT_LT(rules.find("6432 accept"), rules.find("meta l4proto tcp redirect"));
    EXPECT_LT(rules.find("3307 accept"), rules.find("meta l4proto tcp redirect"));
    // No database: no such rule, so every other port of 127.0.0.1 is redirected.
    EXPECT_EQ(nft_ruleset(SandboxPorts{}).find("6432"), std::string::npos);
}

TEST(SandboxNetRules, DevToolsProxyLeftAloneOnBothLoopbacks) {
    SandboxPorts ports;
    ports.cdp = 9222;
    const std::string rules = nft_ruleset(ports);
    EXPECT_NE(rules.find("    ip daddr 127.0.0.1 tcp dport 9222 accept\n"), std::string::npos);
    EXPECT_NE(rules.find("    ip6 daddr ::1 tcp dport 9222 accept\n"), std::string::npos);
    EXPECT_LT(rules.find("9222 accept"), rules.find("meta l4proto tcp redirect"));
    // Without the proxy, 9222 is an ordinary port: redirected like any other.
    EXPECT_EQ(nft_ruleset(SandboxPorts{}).find("9222"), std::string::npos);
}

TEST(SandboxNetRules, OnlyTheConnectorsMarkBypassesTheRedirect) {
    const std::string rules = nft_ruleset(SandboxPorts{});
    const std::string mark = "    meta mark " + std::to_string(kConnectorMark) + " accept\n";
    ASSERT_NE(rules.find(mark), std::string::npos);
    EXPECT_LT(rules.find(mark), rules.find("meta l4proto tcp redirect"));
    // In the nat chain only: the filter chain's verdicts do not depend on the mark.
    EXPECT_GT(rules.find(mark), rules.find("chain nat_out"));
    EXPECT_LT(rules.find(mark), rules.find("chain filter_out"));
}

TEST(SandboxNetRules, RoutesEverythingThroughLoopback) {
    const std::string batch = ip_batch();
    EXPECT_NE(batch.find("link set lo up"), std::string::npos);
    EXPECT_NE(batch.find("address add 192.0.2.1/32 dev lo"), std::string::npos);
    EXPECT_NE(batch.find("route add default dev lo"), std::string::npos);
    EXPECT_NE(batch.find("route add ::/0 dev lo"), std::string::npos);
}

}  // namespace
}  // namespace cloakroom::sandbox
