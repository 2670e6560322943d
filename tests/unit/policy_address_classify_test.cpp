// Invariant 7: every range of the SSRF guard, its first and last address, the addresses just
// outside it, and the IPv6 forms that smuggle an IPv4 address inside.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/address_policy.hpp"

namespace cloakroom::policy {
namespace {

struct Case {
    std::string address;
    AddressClass cls;
};

AddressVerdict classify(const std::string& text, bool allow_private = false) {
    auto bytes = parse_ip_literal(text);
    EXPECT_TRUE(bytes.ok()) << text << ": " << bytes.error().message;
    if (!bytes.ok()) return AddressVerdict{false, AddressClass::Reserved, "unparsed"};
    return classify_address(*bytes, allow_private);
}

void expect_table(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        SCOPED_TRACE(c.address);
        const AddressVerdict verdict = classify(c.address);
        EXPECT_EQ(address_class_name(verdict.cls), address_class_name(c.cls)) << verdict.reason;
        EXPECT_EQ(verdict.allowed, c.cls == AddressClass::Public) << verdict.reason;
    }
}

TEST(AddressClassifyV4, RangesAndEdges) {
    using C = AddressClass;
    expect_table({
        {"0.0.0.0", C::Unspecified},
        {"0.255.255.255", C::Unspecified},
        {"1.0.0.0", C::Public},
        {"9.255.255.255", C::Public},
        {"10.0.0.0", C::Private},
        {"10.255.255.255", C::Private},
        {"11.0.0.0", C::Public},
        {"100.63.255.255", C::Public},
        {"100.64.0.0", C::SharedCgnat},
        {"100.127.255.255", C::SharedCgnat},
        {"100.128.0.0", C::Public},
        {"100.100.100.200", C::Metadata},
        {"100.100.100.199", C::SharedCgnat},
        {"126.255.255.255", C::Public},
        {"127.0.0.0", C::Loopback},
        {"127.0.0.1", C::Loopback},
        {"127.255.255.255", C::Loopback},
        {"128.0.0.0", C::Public},
        {"169.253.255.255", C::Public},
        {"169.254.0.0", C::LinkLocal},
        {"169.254.255.255", C::LinkLocal},
        {"169.254.169.254", C::Metadata},
        {"169.254.169.253", C::LinkLocal},
        {"169.254.170.2", C::Metadata},
        {"169.254.170.3", C::LinkLocal},
        {"169.255.0.0", C::Public},
        {"172.15.255.255", C::Public},
        {"172.16.0.0", C::Private},
        {"172.31.255.255", C::Private},
        {"172.32.0.0", C::Public},
        {"191.255.255.255", C::Public},
        {"192.0.0.0", C::Reserved},
        {"192.0.0.255", C::Reserved},
        {"192.0.1.0", C::Public},
        {"192.0.2.0", C::Documentation},
        {"192.0.2.255", C::Documentation},
        {"192.0.3.0", C::Public},
        {"192.88.99.1", C::Reserved},
        {"192.167.255.255", C::Public},
        {"192.168.0.0", C::Private},
        {"192.168.255.255", C::Private},
        {"192.169.0.0", C::Public},
        {"198.17.255.255", C::Public},
        {"198.18.0.0", C::Reserved},
        {"198.19.255.255", C::Reserved},
        {"198.20.0.0", C::Public},
        {"198.51.99.255", C::Public},
        {"198.51.100.0", C::Documentation},
        {"198.51.100.255", C::Documentation},
        {"198.51.101.0", C::Public},
        {"203.0.112.255", C::Public},
        {"203.0.113.0", C::Documentation},
        {"203.0.113.255", C::Documentation},
        {"203.0.114.0", C::Public},
        {"223.255.255.255", C::Public},
        {"224.0.0.0", C::Multicast},
        {"239.255.255.255", C::Multicast},
        {"240.0.0.0", C::Reserved},
        {"255.255.255.254", C::Reserved},
        {"255.255.255.255", C::Broadcast},
        {"8.8.8.8", C::Public},
        {"93.184.216.34", C::Public},
    });
}

TEST(AddressClassifyV6, RangesAndEdges) {
    using C = AddressClass;
    expect_table({
        {"::", C::Unspecified},
        {"::1", C::Loopback},
        {"fe80::", C::LinkLocal},
        {"fe80::1", C::LinkLocal},
        {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::LinkLocal},
        {"fec0::1", C::Private},  // deprecated site-local
        {"fc00::", C::Private},
        {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::Private},
        {"fd00:ec2::254", C::Metadata},
        {"fd00:ec2::253", C::Private},
        {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::Reserved},
        {"ff00::", C::Multicast},
        {"ff02::1", C::Multicast},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::Multicast},
        {"2001:db8::", C::Documentation},
        {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", C::Documentation},
        {"2001:db9::1", C::Public},
        {"2001:db7:ffff::1", C::Public},
        {"3fff::1", C::Documentation},
        {"3fff:fff::1", C::Documentation},
        {"3fff:1000::1", C::Public},
        {"100::1", C::Reserved},
        {"2000::", C::Public},
        {"2606:4700:4700::1111", C::Public},
        {"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", C::Public},
        {"4000::1", C::Reserved},
        {"1::1", C::Reserved},
        {"::1:0:0:0", C::Reserved},
        {"e000::1", C::Reserved},
    });
}

TEST(AddressClassifyV6, EmbeddedIpv4IsClassifiedByTheInnerAddress) {
    using C = AddressClass;
    expect_table({
        // IPv4-mapped.
        {"::ffff:127.0.0.1", C::Loopback},
        {"::ffff:7f00:1", C::Loopback},
        {"::ffff:169.254.169.254", C::Metadata},
        {"::ffff:a9fe:a9fe", C::Metadata},
        {"::ffff:10.1.2.3", C::Private},
        {"::ffff:0.0.0.0", C::Unspecified},
        {"::ffff:255.255.255.255", C::Broadcast},
        {"::ffff:8.8.8.8", C::Public},
        // IPv4-translated (SIIT).
        {"::ffff:0:127.0.0.1", C::Loopback},
        {"::ffff:0:169.254.169.254", C::Metadata},
        // IPv4-compatible (deprecated, still routed by some stacks).
        {"::127.0.0.1", C::Loopback},
        {"::169.254.169.254", C::Metadata},
        {"::8.8.8.8", C::Public},
        {"::2", C::Unspecified},  // 0.0.0.2
        // NAT64 well-known prefix.
        {"64:ff9b::127.0.0.1", C::Loopback},
        {"64:ff9b::a9fe:a9fe", C::Metadata},
        {"64:ff9b::8.8.8.8", C::Public},
        {"64:ff9b::1:8.8.8.8", C::Reserved},  // outside the /96: plain ::/8 space
        // Local-use NAT64, /96 and /48 layouts.
        {"64:ff9b:1::169.254.169.254", C::Metadata},
        {"64:ff9b:1:7f00:1::", C::Loopback},  // /48: 127.0 in bytes 6-7, 0.1 in bytes 9-10
        {"64:ff9b:1:a9fe:a9:fe00::", C::Metadata},
        {"64:ff9b:1::8.8.8.8", C::Public},
        {"64:ff9b:1::93.184.216.34", C::Public},
        {"64:ff9b:1:808:8:800::", C::Public},         // 8.8.8.8 in the /48 layout
        {"64:ff9b:1:7f00:1:0:808:808", C::Loopback},  // /48 says 127.0.0.1, /96 8.8.8.8
        {"64:ff9b:1:a9:fe:a9fe::", C::Metadata},      // /56 layout
        {"64:ff9b:1::7f:0:100:0", C::Loopback},       // /64 says 127.0.0.1, /96 1.0.0.0
        // 6to4.
        {"2002:7f00:1::", C::Loopback},
        {"2002:a9fe:a9fe::1", C::Metadata},
        {"2002:0a00:0001:1234::5", C::Private},
        {"2002:0808:0808::1", C::Public},
        // Teredo: client address is the bit-inverted last 32 bits.
        {"2001:0:4136:e378:8000:63bf:80ff:fffe", C::Loopback},  // ~80ff:fffe = 127.0.0.1
        {"2001::5601:5601", C::Metadata},                       // ~5601:5601 = 169.254.169.254
        {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", C::Public},    // 8.8.8.8
    });
}

TEST(AddressClassify, ReasonsNameTheAddressAndTheInnerForm) {
    EXPECT_EQ(classify("169.254.169.254").reason,
              "169.254.169.254 is a cloud metadata address (never allowed, whatever "
              "allow_private says)");
    EXPECT_EQ(classify("::ffff:127.0.0.1").reason,
              "::ffff:127.0.0.1 embeds 127.0.0.1 (IPv4-mapped), a loopback address");
    EXPECT_EQ(classify("2002:a9fe:a9fe::1").reason,
              "2002:a9fe:a9fe::1 embeds 169.254.169.254 (6to4), a cloud metadata address (never "
              "allowed, whatever allow_private says)");
    EXPECT_EQ(classify("fd00:ec2::254", true).reason,
              "fd00:ec2::254 is a cloud metadata address (never allowed, whatever allow_private "
              "says)");
    EXPECT_EQ(classify("8.8.8.8").reason, "8.8.8.8 is a public address");
    EXPECT_EQ(classify("10.0.0.1", true).reason,
              "10.0.0.1 is a private address (allowed: the service sets allow_private)");
}

TEST(AddressClassify, AllowPrivatePermitsAllButMetadataUnspecifiedMulticastBroadcast) {
    const std::vector<std::string> permitted = {
        "127.0.0.1",       "10.0.0.1",         "172.16.0.1",
        "192.168.1.1",     "169.254.1.1",      "100.64.0.1",
        "192.0.2.1",       "240.0.0.1",        "::1",
        "fe80::1",         "fd00::1",          "fd00:ec2::253",
        "169.254.169.253", "::ffff:127.0.0.1", "8.8.8.8",
    };
    for (const std::string& address : permitted) {
        SCOPED_TRACE(address);
        EXPECT_EQ(classify(address, false).allowed, address == "8.8.8.8");
        EXPECT_EQ(classify(address, false).allow_private_would_allow, address != "8.8.8.8");
        EXPECT_TRUE(classify(address, true).allowed);
    }
    // Cloud metadata in every spelling is refused by the policy itself, whatever allow_private
    // says (no caller has to remember an override), and a refusal never suggests allow_private.
    const std::vector<std::string> never = {
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "::ffff:0.0.0.0",
        "::ffff:224.0.0.1",
        "::ffff:255.255.255.255",
        "169.254.169.254",
        "169.254.170.2",
        "100.100.100.200",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "::ffff:100.100.100.200",
    };
    for (const std::string& address : never) {
        SCOPED_TRACE(address);
        EXPECT_FALSE(classify(address, false).allowed);
        EXPECT_FALSE(classify(address, true).allowed);
        EXPECT_FALSE(classify(address, false).allow_private_would_allow);
        EXPECT_FALSE(classify(address, true).allow_private_would_allow);
        EXPECT_EQ(classify(address, true).reason.find("allowed: the service sets allow_private"),
                  std::string::npos);
    }
}

TEST(AddressClassify, WrongByteCountsAreRefused) {
    for (std::size_t size : {0u, 1u, 3u, 5u, 15u, 17u}) {
        const std::vector<std::uint8_t> bytes(size, 8);
        const AddressVerdict verdict = classify_address(bytes, true);
        EXPECT_FALSE(verdict.allowed);
        EXPECT_EQ(verdict.cls, AddressClass::Reserved);
    }
}

TEST(AddressClassify, FormatsCanonicalText) {
    const std::vector<std::uint8_t> v4 = {192, 0, 2, 1};
    EXPECT_EQ(format_address(v4), "192.0.2.1");
    auto v6 = parse_ip_literal("2001:DB8:0:0:0:0:0:1");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(format_address(*v6), "2001:db8::1");
    EXPECT_EQ(format_address(std::vector<std::uint8_t>(5, 0)), "");
}

}  // namespace
}  // namespace cloakroom::policy
