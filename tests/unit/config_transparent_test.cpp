// [gateway] transparent_listen and sandbox_socket: defaults, values, and precise errors.
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace cloakroom::config {
namespace {

Environment test_env() {
    return Environment(Environment::Variables{{"HOME", "/home/agent"}});
}

TEST(ConfigTransparent, DefaultsNoTransparentListenerAndSocketUnderDataDir) {
    auto config = parse_config_string("[gateway]\ndata_dir = \"/srv/cr\"\n", "c.toml", test_env());
    ASSERT_TRUE(config.ok()) << config.error().message;
    EXPECT_TRUE(config->gateway.transparent.empty());
    EXPECT_EQ(config->gateway.sandbox_socket, "/srv/cr/run/sandbox.sock");
}

TEST(ConfigTransparent, Values) {
    auto config = parse_config_string(
        "[gateway]\ndata_dir = \"/srv/cr\"\ntransparent_listen = [\"127.0.0.1:15001\", "
        "\"[::1]:15001\"]\nsandbox_socket = \"/run/cr/s.sock\"\n",
        "c.toml", test_env());
    ASSERT_TRUE(config.ok()) << config.error().message;
    ASSERT_EQ(config->gateway.transparent.size(), 2u);
    EXPECT_EQ(config->gateway.transparent[0].address, "127.0.0.1:15001");
    EXPECT_EQ(config->gateway.transparent[1].host, "::1");
    EXPECT_EQ(config->gateway.transparent[1].port, 15001);
    EXPECT_EQ(config->gateway.sandbox_socket, "/run/cr/s.sock");
    auto disabled = parse_config_string("[gateway]\nsandbox_socket = \"\"\n", "c.toml", test_env());
    ASSERT_TRUE(disabled.ok());
    EXPECT_TRUE(disabled->gateway.sandbox_socket.empty());
}

TEST(ConfigTransparent, Errors) {
    auto public_address = parse_config_string(
        "[gateway]\ntransparent_listen = [\"10.0.0.1:15001\"]\n", "c.toml", test_env());
    ASSERT_FALSE(public_address.ok());
    EXPECT_NE(public_address.error().message.find(
                  "transparent_listen \"10.0.0.1:15001\" must be a loopback address"),
              std::string::npos)
        << public_address.error().message;
    auto no_port = parse_config_string("[gateway]\ntransparent_listen = [\"127.0.0.1\"]\n",
                                       "c.toml", test_env());
    ASSERT_FALSE(no_port.ok());
    EXPECT_NE(no_port.error().message.find("transparent_listen"), std::string::npos);
    auto not_a_list = parse_config_string("[gateway]\ntransparent_listen = \"127.0.0.1:1\"\n",
                                          "c.toml", test_env());
    ASSERT_FALSE(not_a_list.ok());
    EXPECT_NE(not_a_list.error().message.find("transparent_listen"), std::string::npos);
}

}  // namespace
}  // namespace cloakroom::config
