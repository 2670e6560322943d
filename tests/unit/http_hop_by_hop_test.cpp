// remove_hop_by_hop on requests and responses: the fixed hop-by-hop fields, the ones Connection
// names (across any number of Connection fields), and nothing else.
#include <gtest/gtest.h>

#include <string>

#include "http/head.hpp"
#include "http/hop_by_hop.hpp"

namespace cloakroom::proxy {
namespace {

std::string names(const http::Head& head) {
    std::string out;
    for (const auto& field : head.fields()) out += std::string(field.name) + ";";
    return out;
}

TEST(ProxyHopByHop, FixedFieldsAndNamedOnesGoTheRestStays) {
    http::Head head;
    ASSERT_TRUE(head.parse_response(
        "HTTP/1.1 200 OK\r\nDate: x\r\nconnection: X-A,, x-b ,\r\nKeep-Alive: timeout=5\r\n"
        "X-A: 1\r\nTE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\nx-b: 2\r\n"
        "Proxy-Authenticate: Basic\r\nPROXY-AUTHORIZATION: x\r\nProxy-Connection: close\r\n"
        "X-AB: kept\r\nContent-Length: 3\r\n\r\n"));
    http::remove_hop_by_hop(head);
    EXPECT_EQ(names(head), "Date;X-AB;Content-Length;");
}

TEST(ProxyHopByHop, ManyConnectionFieldsAreAllHonoured) {
    // More names than the splitter keeps inline (6), over several Connection fields.
    std::string text = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 7; ++i) {
        const std::string a = "X-" + std::to_string(2 * i);
        const std::string b = "X-" + std::to_string(2 * i + 1);
        text += "Connection: " + a + ", " + b + "\r\n" + a + ": v\r\n" + b + ": v\r\n";
    }
    text += "X-14: kept\r\n\r\n";
    http::Head head;
    ASSERT_TRUE(head.parse_request(text));
    http::remove_hop_by_hop(head);
    EXPECT_EQ(names(head), "Host;X-14;");
}

TEST(ProxyHopByHop, ConnectionNeverRemovesFramingOrHost) {
    // The request validator refuses such a Connection; a response can still carry one.
    http::Head head;
    ASSERT_TRUE(head.parse_response(
        "HTTP/1.1 200 OK\r\nConnection: Content-Length, Transfer-Encoding, Host\r\n"
        "Content-Length: 3\r\nHost: x\r\n\r\n"));
    http::remove_hop_by_hop(head);
    EXPECT_EQ(names(head), "Content-Length;Host;");
}

}  // namespace
}  // namespace cloakroom::proxy
