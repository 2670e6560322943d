// peek_client_hello on real ClientHellos written by OpenSSL's client: the server name comes out
// however the bytes are split (every split point), across several TLS records, for a large
// hello; no SNI, garbage and malformed server_name extensions are told apart.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/client_hello.hpp"

namespace cloakroom::proxy {
namespace {

using Status = ClientHelloPeek::Status;

// The bytes an OpenSSL client sends first. `fragment`: max record payload (splits the hello
// over several records when small); `alpn_bytes`: grows the hello.
std::vector<std::uint8_t> client_hello(const char* sni, unsigned fragment = 0,
                                       std::size_t alpn_bytes = 0) {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                          SSL_CTX_free);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl.get(), in, out);
    if (sni != nullptr) {
        // SSL_set_tlsext_host_name is a macro with an old-style cast.
        SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(sni));
    }
    if (fragment != 0) SSL_set_max_send_fragment(ssl.get(), fragment);
    if (alpn_bytes != 0) {
        std::vector<unsigned char> protos;
        while (protos.size() + 11 <= alpn_bytes) {
            protos.push_back(10);
            for (int i = 0; i < 10; ++i) protos.push_back('a' + (protos.size() % 26));
        }
        SSL_set_alpn_protos(ssl.get(), protos.data(), static_cast<unsigned>(protos.size()));
    }
    SSL_connect(ssl.get());  // wants to read the ServerHello; the ClientHello is written
    std::vector<std::uint8_t> bytes(BIO_ctrl_pending(out));
    BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
    return bytes;
}

ClientHelloPeek peek(const std::vector<std::uint8_t>& bytes, std::size_t n) {
    return peek_client_hello({bytes.data(), n});
}

TEST(ClientHello, ServerNameOfAWholeHello) {
    const auto hello = client_hello("api.example.com");
    const auto result = peek(hello, hello.size());
    ASSERT_EQ(result.status, Status::Complete) << result.problem;
    EXPECT_EQ(result.server_name, "api.example.com");
}

TEST(ClientHello, EveryPrefixNeedsMoreUntilTheLastByte) {
    const auto hello = client_hello("split.example.com");
    for (std::size_t n = 1; n < hello.size(); ++n) {
        const auto result = peek(hello, n);
        ASSERT_EQ(result.status, Status::NeedMore) << "prefix of " << n << " bytes";
    }
    EXPECT_EQ(peek(hello, hello.size()).server_name, "split.example.com");
}

TEST(ClientHello, LargeHelloOverSeveralRecords) {
    // ~3 KB, in records of 512 bytes: the reassembly a post-quantum hello needs.
    const auto hello = client_hello("big.example.com", 512, 2500);
    ASSERT_GT(hello.size(), 2500u);
    std::size_t records = 0;
    for (std::size_t at = 0; at + 5 <= hello.size();
         at += 5 + ((hello[at + 3] << 8) | hello[at + 4])) {
        ++records;
    }
    EXPECT_GE(records, 5u);
    for (std::size_t n = 1; n < hello.size(); n += 97) {
        ASSERT_EQ(peek(hello, n).status, Status::NeedMore) << n;
    }
    const auto result = peek(hello, hello.size());
    ASSERT_EQ(result.status, Status::Complete) << result.problem;
    EXPECT_EQ(result.server_name, "big.example.com");
}

TEST(ClientHello, NoServerName) {
    const auto hello = client_hello(nullptr);
    const auto result = peek(hello, hello.size());
    ASSERT_EQ(result.status, Status::Complete);
    EXPECT_FALSE(result.server_name);
}

TEST(ClientHello, NotTls) {
    const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::vector<std::uint8_t> bytes(http.begin(), http.end());
    EXPECT_EQ(peek(bytes, bytes.size()).status, Status::Invalid);
    // A handshake record that is not a ClientHello (type 2, ServerHello).
    const std::vector<std::uint8_t> server_hello{0x16, 3, 3, 0, 4, 2, 0, 0, 0};
    EXPECT_EQ(peek(server_hello, server_hello.size()).status, Status::Invalid);
    // An alert record.
    const std::vector<std::uint8_t> alert{0x15, 3, 3, 0, 2, 2, 40};
    EXPECT_EQ(peek(alert, alert.size()).status, Status::Invalid);
}

TEST(ServerNameExtension, Malformed) {
    using Bytes = std::vector<std::uint8_t>;
    auto parse = [](const Bytes& b) { return parse_server_name_extension({b.data(), b.size()}); };
    const Bytes good{0, 6, 0, 0, 3, 'a', '.', 'b'};
    EXPECT_TRUE(parse(good).ok);
    EXPECT_EQ(parse(good).host_name, "a.b");
    EXPECT_FALSE(parse(Bytes{0}).ok);
    EXPECT_FALSE(parse(Bytes{0, 7, 0, 0, 3, 'a', '.', 'b'}).ok);      // list length too long
    EXPECT_FALSE(parse(Bytes{0, 5, 0, 0, 3, 'a', '.'}).ok);           // name truncated
    EXPECT_FALSE(parse(Bytes{0, 3, 0, 0, 0}).ok);                     // empty name
    EXPECT_FALSE(parse(Bytes{0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b'}).ok);  // two host names
    const Bytes other_type{0, 4, 1, 0, 1, 'x'};                       // not host_name
    EXPECT_TRUE(parse(other_type).ok);
    EXPECT_FALSE(parse(other_type).host_name);
    // Every truncation of the good one is refused, never read past.
    for (std::size_t n = 0; n < good.size(); ++n) {
        EXPECT_FALSE(parse(Bytes(good.begin(), good.begin() + static_cast<long>(n))).ok) << n;
    }
}

}  // namespace
}  // namespace cloakroom::proxy
