// Which name a redirected connection gets: a synthetic destination names its host, a real one
// needs a sent name (checked against DNS by the caller), and a sent name that belongs to
// another destination is refused.
#include <gtest/gtest.h>

#include "proxy/transparent_target.hpp"

namespace cloakroom::proxy {
namespace {

namespace net = boost::asio;

TEST(TransparentTarget, SyntheticAddressNamesItsHost) {
    dns::SyntheticPool pool;
    const auto address = pool.address_for("api.example.com");
    ASSERT_TRUE(address);
    const auto destination = net::ip::make_address_v4(*address);
    auto named = destination_name(destination, std::nullopt, pool);
    ASSERT_TRUE(named.ok()) << named.error().message;
    EXPECT_EQ(named->name, "api.example.com");
    EXPECT_FALSE(named->check_resolution);
    auto same = destination_name(destination, std::string("api.example.com"), pool);
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(same->name, "api.example.com");
}

TEST(TransparentTarget, NameOfAnotherSyntheticAddressIsRefused) {
    dns::SyntheticPool pool;
    const auto api = pool.address_for("api.example.com");
    pool.address_for("evil.example.com");
    auto named =
        destination_name(net::ip::make_address_v4(*api), std::string("evil.example.com"), pool);
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.error().message.find("does not belong to destination 198.18.0.1"),
              std::string::npos)
        << named.error().message;
}

TEST(TransparentTarget, UnassignedSyntheticAddressIsRefused) {
    dns::SyntheticPool pool;
    auto named =
        destination_name(net::ip::make_address("198.19.1.1"), std::string("api.example.com"), pool);
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.error().message.find("did not give out"), std::string::npos);
}

TEST(TransparentTarget, RealAddressNeedsANameAndAResolutionCheck) {
    dns::SyntheticPool pool;
    const auto destination = net::ip::make_address("93.184.216.34");
    auto none = destination_name(destination, std::nullopt, pool);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("no host name"), std::string::npos);
    auto named = destination_name(destination, std::string("api.example.com"), pool);
    ASSERT_TRUE(named.ok());
    EXPECT_TRUE(named->check_resolution);
    auto v6 = destination_name(net::ip::make_address("::1"), std::string("localhost"), pool);
    ASSERT_TRUE(v6.ok());
    EXPECT_TRUE(v6->check_resolution);
}

TEST(TransparentTarget, LiteralNameMustBeTheDestination) {
    dns::SyntheticPool pool;
    const auto destination = net::ip::make_address("10.0.0.1");
    EXPECT_TRUE(destination_name(destination, std::string("10.0.0.1"), pool).ok());
    EXPECT_FALSE(destination_name(destination, std::string("10.0.0.2"), pool).ok());
    EXPECT_FALSE(destination_name(destination, std::string("::1"), pool).ok());
}

TEST(TransparentTarget, SentNamesAreNormalized) {
    EXPECT_EQ(*normalize_sent_name("API.Example.COM."), "api.example.com");
    EXPECT_EQ(*normalize_sent_name("api.example.com:8443"), "api.example.com");
    EXPECT_FALSE(normalize_sent_name("api example").ok());
    EXPECT_FALSE(normalize_sent_name("*.example.com").ok());
    EXPECT_FALSE(normalize_sent_name("").ok());
}

}  // namespace
}  // namespace cloakroom::proxy
