// Host caveats and ports (token/host_caveat.hpp): a token reaches only the service it names.
// The case that motivated the rule: services "api.example.com" (any port) and
// "api.example.com:8443" (its own credential). A token minted --hosts api.example.com obtained
// the second one's credential, because the port was dropped before the host was compared.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "proxy/route.hpp"
#include "token/evaluate.hpp"
#include "token/host_caveat.hpp"
#include "token/token.hpp"

namespace cloakroom::token {
namespace {

RoutedHost bare(std::string host, std::uint16_t port) {
    return RoutedHost{std::move(host), port, false};
}
RoutedHost keyed(std::string host, std::uint16_t port) {
    return RoutedHost{std::move(host), port, true};
}

TEST(TokenHostCaveat, EntryTable) {
    struct Case {
        std::string entry;
        RoutedHost routed;
        bool allowed;
    };
    const std::vector<Case> cases = {
        // A bare entry: any port of a bare-keyed service, never a port-keyed one.
        {"api.example.com", bare("api.example.com", 443), true},
        {"api.example.com", bare("api.example.com", 8443), true},
        {"api.example.com", keyed("api.example.com", 8443), false},
        {"api.example.com", keyed("api.example.com", 443), false},
        {"api.example.com", bare("api.example.com", 0), true},
        {"API.Example.COM.", bare("api.example.com", 443), true},
        {"api.example.com", bare("other.example.com", 443), false},
        {"example.com", bare("api.example.com", 443), false},
        // A port entry: exactly that port, whoever owns it.
        {"api.example.com:8443", keyed("api.example.com", 8443), true},
        {"api.example.com:8443", bare("api.example.com", 8443), true},
        {"api.example.com:8443", keyed("api.example.com", 443), false},
        {"api.example.com:8443", bare("api.example.com", 443), false},
        {"api.example.com:8443", bare("api.example.com", 0), false},
        {"api.example.com:443", bare("api.example.com", 443), true},
        {"API.EXAMPLE.com:8443", keyed("api.example.com", 8443), true},
        {"api.example.com:08443", keyed("api.example.com", 8443), true},
        // IPv6, bracketed as in a URL.
        {"[::1]:8443", keyed("::1", 8443), true},
        {"[0:0::1]", bare("::1", 8443), true},
        {"[::1]", keyed("::1", 8443), false},
        // Not a host[:port]: allows nothing.
        {"api.example.com:0", bare("api.example.com", 443), false},
        {"api.example.com:99999", bare("api.example.com", 443), false},
        {"api.example.com:", bare("api.example.com", 443), false},
        {"*.example.com", bare("api.example.com", 443), false},
        {"https://api.example.com", bare("api.example.com", 443), false},
        {"", bare("", 443), false},
        {"::1", bare("::1", 443), false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.entry + " vs " + c.routed.text() + (c.routed.port_keyed ? " (keyed)" : ""));
        EXPECT_EQ(host_entry_allows(c.entry, c.routed), c.allowed);
    }
}

AccessRequest request(std::string host, std::uint16_t port, bool port_keyed) {
    AccessRequest r{std::move(host), "GET", "/", 1000};
    r.port = port;
    r.port_keyed = port_keyed;
    return r;
}

TEST(TokenHostCaveat, EvaluateUsesTheRoutedPort) {
    const std::vector<Caveat> bare_token = {hosts_caveat({"api.example.com"})};
    const std::vector<Caveat> port_token = {hosts_caveat({"api.example.com:8443"})};
    EXPECT_TRUE(evaluate_caveats(bare_token, request("api.example.com", 443, false)).empty());
    EXPECT_TRUE(evaluate_caveats(port_token, request("api.example.com", 8443, true)).empty());
    const auto denied = evaluate_caveats(bare_token, request("api.example.com", 8443, true));
    ASSERT_EQ(denied.size(), 1u);
    EXPECT_EQ(denied[0],
              "host \"api.example.com:8443\" not in allowed list [\"api.example.com\"] (port 8443 "
              "is a service of its own: a token for it names \"api.example.com:8443\")");
    const auto wrong_port = evaluate_caveats(port_token, request("api.example.com", 443, false));
    ASSERT_EQ(wrong_port.size(), 1u);
    EXPECT_EQ(wrong_port[0],
              "host \"api.example.com:443\" not in allowed list [\"api.example.com:8443\"]");
    // A caller without routing information may write the port into the host text: then, as in
    // agent-creds (exact comparison), only an entry naming that port allows it.
    EXPECT_TRUE(evaluate_caveats(port_token, request("api.example.com:8443", 0, false)).empty());
    EXPECT_FALSE(evaluate_caveats(bare_token, request("api.example.com:443", 0, false)).empty());
    EXPECT_FALSE(evaluate_caveats(port_token, request("api.example.com", 0, false)).empty());
    // Without any port (an older caller) a bare entry still allows, a port entry never does.
    EXPECT_TRUE(evaluate_caveats(bare_token, request("API.example.com", 0, false)).empty());
}

config::Config two_services_on_one_host() {
    config::Config config;
    config::Service any_port;
    any_port.name = "public-api";
    any_port.hosts = {"api.example.com"};
    config::Service admin;
    admin.name = "admin-api";
    admin.hosts = {"api.example.com:8443"};
    config.services = {any_port, admin};
    return config;
}

// The invariant, over every token entry and every port a CONNECT may name: the routes a token
// entry allows all belong to one service.
TEST(TokenHostCaveat, NoEntryReachesTwoServices) {
    const config::Config config = two_services_on_one_host();
    const std::vector<std::string> entries = {"api.example.com", "api.example.com:443",
                                              "api.example.com:8443", "api.example.com:9000",
                                              "API.EXAMPLE.COM."};
    const std::vector<std::uint16_t> ports = {443, 80, 8443, 9000, 8080, 1};
    for (const std::string& entry : entries) {
        std::set<std::string> reached;
        for (const std::uint16_t port : ports) {
            const proxy::Route route =
                proxy::route_connect(config, "api.example.com:" + std::to_string(port));
            ASSERT_EQ(route.kind, proxy::RouteKind::Intercept);
            if (host_entry_allows(entry, route.token_host())) reached.insert(route.service->name);
        }
        SCOPED_TRACE(entry);
        EXPECT_EQ(reached.size(), 1u);
    }
    // And which one: the bare entry the bare-keyed service, the port entry the port-keyed one.
    const proxy::Route admin = proxy::route_connect(config, "api.example.com:8443");
    const proxy::Route public_api = proxy::route_connect(config, "api.example.com:443");
    EXPECT_TRUE(admin.token_host().port_keyed);
    EXPECT_FALSE(public_api.token_host().port_keyed);
    EXPECT_FALSE(host_entry_allows("api.example.com", admin.token_host()));
    EXPECT_TRUE(host_entry_allows("api.example.com:8443", admin.token_host()));
    EXPECT_TRUE(host_entry_allows("api.example.com", public_api.token_host()));
    EXPECT_FALSE(host_entry_allows("api.example.com:8443", public_api.token_host()));
}

}  // namespace
}  // namespace cloakroom::token

namespace cloakroom::token {
namespace {

// host_entry_allows answers an entry equal to the routed host without the parser: it must give
// exactly the parser's answer, for every entry spelling and route.
bool parsed_answer(std::string_view entry, const RoutedHost& routed) {
    ParsedHost parsed;
    if (!parse_host_port(entry, parsed) || parsed.host != routed.host) return false;
    if (parsed.port != 0) return parsed.port == routed.port;
    return !routed.port_keyed;
}

TEST(TokenHostCaveat, TheEqualityShortcutAgreesWithTheParser) {
    for (const std::string host : {"api.example.com", "127.0.0.1", "localhost", "a-b.c", "::1"}) {
        for (const std::uint16_t port : {443, 8443}) {
            for (const bool keyed : {false, true}) {
                const RoutedHost routed{host, port, keyed};
                const std::string v6 = "[" + host + "]";
                for (const std::string& entry :
                     {host, host + ".", host + ":443", host + ":8443", v6, v6 + ":443",
                      std::string("API.Example.COM"), std::string("other.example.com")}) {
                    EXPECT_EQ(host_entry_allows(entry, routed), parsed_answer(entry, routed))
                        << entry << " for " << routed.text() << (keyed ? " (port-keyed)" : "");
                }
            }
        }
    }
}

}  // namespace
}  // namespace cloakroom::token
