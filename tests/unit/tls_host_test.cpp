// parse_tls_host: one canonical name per host, and nothing that could smuggle text into a
// certificate or a verification parameter.
#include <gtest/gtest.h>

#include <string>

#include "tls/host_name.hpp"

namespace cloakroom::tls {
namespace {

TlsHost parsed(std::string_view host) {
    auto result = parse_tls_host(host);
    EXPECT_TRUE(result.ok()) << host << ": " << (result.ok() ? "" : result.error().message);
    return result.ok() ? *result : TlsHost{};
}

TEST(TlsHost, DnsNamesAreLowercasedWithoutTrailingDot) {
    EXPECT_EQ(parsed("API.Example.COM.").name, "api.example.com");
    EXPECT_FALSE(parsed("api.example.com").is_ip);
    EXPECT_EQ(parsed("localhost").name, "localhost");
    EXPECT_EQ(parsed("_dmarc.x-y.example").name, "_dmarc.x-y.example");
    EXPECT_EQ(parsed("1password.com").name, "1password.com");
}

TEST(TlsHost, IpLiteralsAreCanonical) {
    EXPECT_EQ(parsed("127.0.0.1").name, "127.0.0.1");
    EXPECT_TRUE(parsed("127.0.0.1").is_ip);
    EXPECT_EQ(parsed("[::1]").name, "::1");
    EXPECT_EQ(parsed("0:0::1").name, "::1");
    EXPECT_EQ(parsed("[2001:DB8:0::1]").name, "2001:db8::1");
    EXPECT_TRUE(parsed("::ffff:10.0.0.1").is_ip);
}

TEST(TlsHost, RejectsWhatCannotBeACertificateName) {
    const std::string long_name = std::string(250, 'a') + ".com";  // 254 characters
    const std::string long_label = std::string(64, 'a') + ".com";
    for (const std::string& bad :
         {std::string(""), std::string("a b.com"), std::string("a\0b.com", 7), long_name,
          long_label, std::string("a..b"), std::string(".a"), std::string("*.example.com"),
          std::string("example.com:443"), std::string("[127.0.0.1]"), std::string("fe80::1%eth0"),
          std::string("[::1"), std::string("1.2.3"), std::string("010.1.1.999"),
          std::string("a,DNS:evil.com"), std::string("caf\xc3\xa9.com"), std::string(".")}) {
        auto result = parse_tls_host(bad);
        ASSERT_FALSE(result.ok()) << "accepted: " << bad;
        EXPECT_EQ(result.error().code, "tls.host");
        EXPECT_EQ(result.error().message.find('\0'), std::string::npos);
    }
    EXPECT_NE(parse_tls_host("a b").error().message.find("space"), std::string::npos);
    EXPECT_NE(parse_tls_host(long_name).error().message.find("253"), std::string::npos);
}

TEST(TlsHost, LongestValidNameIsAccepted) {
    std::string name;
    while (name.size() + 64 <= 253) name += std::string(63, 'a') + ".";
    name += std::string(253 - name.size(), 'b');
    ASSERT_EQ(name.size(), 253u);
    EXPECT_TRUE(parse_tls_host(name).ok());
}

}  // namespace
}  // namespace cloakroom::tls
