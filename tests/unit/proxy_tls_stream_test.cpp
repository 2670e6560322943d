// TlsStream, PlainStream and Watchdog over real loopback sockets: handshakes with a minted leaf
// verified by the client context, data both ways (gather writes larger than a record, writes
// that must wait for the reader), early input, how the streams end, and the timeout semantics
// the proxy relies on (a deadline applies to operations in progress, like beast::tcp_stream).
#include <gtest/gtest.h>
#include <openssl/err.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/plain_stream.hpp"
#include "proxy/tls_stream.hpp"
#include "stream_test_support.hpp"
#include "tls/certificate_authority.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"
#include "tls_test_support.hpp"

namespace cloakroom::proxy {
namespace {

using namespace testing_support;

TEST_F(StreamTest, HandshakeVerifiesTheLeafAndCarriesDataBothWays) {
    auto [client, server] = tls_pair();
    ASSERT_EQ(SSL_get_verify_result(client->native_handle()), X509_V_OK);
    ASSERT_NE(SSL_get_servername(server->native_handle(), TLSEXT_NAMETYPE_host_name), nullptr);
    EXPECT_STREQ(SSL_get_servername(server->native_handle(), TLSEXT_NAMETYPE_host_name),
                 "api.example.com");
    std::string at_server(5, '\0');
    std::string at_client(3, '\0');
    error_code ec1, ec2;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await net::async_write(*client, net::buffer(std::string_view("hello")),
                                      net::redirect_error(kUse, ec1));
            co_await net::async_read(*client, net::buffer(at_client),
                                     net::redirect_error(kUse, ec1));
        },
        [&]() -> net::awaitable<void> {
            co_await net::async_read(*server, net::buffer(at_server),
                                     net::redirect_error(kUse, ec2));
            co_await net::async_write(*server, net::buffer(std::string_view("bye")),
                                      net::redirect_error(kUse, ec2));
        });
    EXPECT_FALSE(ec1) << ec1.message();
    EXPECT_FALSE(ec2) << ec2.message();
    EXPECT_EQ(at_server, "hello");
    EXPECT_EQ(at_client, "bye");
}

TEST_F(StreamTest, BuffersAreKeptAcrossReadsAndWrites) {
    // The contexts ask OpenSSL to release its 17 KiB record buffers whenever they are empty
    // (right for other users); a stream must not, or every read and write frees and re-zeroes
    // them. It frees them itself when it starts to idle (async_wait_input).
    auto [client, server] = tls_pair();
    ASSERT_NE(SSL_CTX_get_mode(SSL_get_SSL_CTX(client->native_handle())) & SSL_MODE_RELEASE_BUFFERS,
              0u)
        << "the premise: the context sets the mode";
    EXPECT_EQ(SSL_get_mode(client->native_handle()) & SSL_MODE_RELEASE_BUFFERS, 0u);
    EXPECT_EQ(SSL_get_mode(server->native_handle()) & SSL_MODE_RELEASE_BUFFERS, 0u);
}

TEST_F(StreamTest, WrongHostFailsTheClientHandshake) {
    auto [c, s] = connect();
    auto client = client_stream(std::move(c), "other.example.com");
    auto server = server_stream(std::move(s), "api.example.com");
    error_code client_ec, server_ec;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await client->async_handshake(net::ssl::stream_base::client,
                                             net::redirect_error(kUse, client_ec));
            client->socket().close();
        },
        [&]() -> net::awaitable<void> {
            co_await server->async_handshake(net::ssl::stream_base::server,
                                             net::redirect_error(kUse, server_ec));
        });
    EXPECT_TRUE(client_ec);
    EXPECT_TRUE(server_ec);
    EXPECT_NE(tls::verify_failure_reason(client->native_handle()).find("other.example.com"),
              std::string::npos);
    ERR_clear_error();
}

// A gather list of several buffers, larger than many records, written while the reader is not
// reading yet: writes fill the socket, wait for room (WANT_WRITE) and are retried from the
// re-copied scratch buffer.
TEST_F(StreamTest, LargeGatherWriteArrivesIntactThroughBackpressure) {
    auto [client, server] = tls_pair();
    const std::string a = pattern(700);
    const std::string b = pattern(3 * 1024 * 1024 + 17);
    const std::string c = pattern(5);
    std::string received(a.size() + b.size() + c.size(), '\0');
    error_code write_ec, read_ec;
    std::size_t written = 0;
    run(
        20s,
        [&]() -> net::awaitable<void> {
            std::array<net::const_buffer, 3> buffers{net::buffer(a), net::buffer(b),
                                                     net::buffer(c)};
            written =
                co_await net::async_write(*client, buffers, net::redirect_error(kUse, write_ec));
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 300ms);  // let the writer hit a full socket
            co_await delay.async_wait(kUse);
            co_await net::async_read(*server, net::buffer(received),
                                     net::redirect_error(kUse, read_ec));
        });
    ASSERT_FALSE(write_ec) << write_ec.message();
    ASSERT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(written, received.size());
    EXPECT_TRUE(received == a + b + c);
}

// Bytes the server read off the socket before knowing it would speak TLS (a ClientHello sent
// right behind CONNECT) are fed to OpenSSL first.
TEST_F(StreamTest, EarlyInputIsReadBeforeTheSocket) {
    auto [c, s] = connect();
    auto client = client_stream(std::move(c), "api.example.com");
    error_code client_ec, server_ec;
    std::unique_ptr<TlsStream> server;
    std::string greeting(2, '\0');
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await client->async_handshake(net::ssl::stream_base::client,
                                             net::redirect_error(kUse, client_ec));
            co_await net::async_write(*client, net::buffer(std::string_view("hi")),
                                      net::redirect_error(kUse, client_ec));
        },
        [&, socket = std::move(s)]() mutable -> net::awaitable<void> {
            std::array<char, 3> early{};  // part of the ClientHello, taken off the socket
            const std::size_t n = co_await socket.async_read_some(
                net::buffer(early), net::redirect_error(kUse, server_ec));
            server = server_stream(std::move(socket), "api.example.com");
            server->set_early_input(std::string_view(early.data(), n));
            co_await server->async_handshake(net::ssl::stream_base::server,
                                             net::redirect_error(kUse, server_ec));
            if (server_ec) co_return;
            co_await net::async_read(*server, net::buffer(greeting),
                                     net::redirect_error(kUse, server_ec));
        });
    EXPECT_FALSE(client_ec) << client_ec.message();
    EXPECT_FALSE(server_ec) << server_ec.message();
    EXPECT_EQ(greeting, "hi");
}

TEST_F(StreamTest, CloseNotifyReadsAsEofAndABareTcpCloseAsTruncated) {
    {
        auto [client, server] = tls_pair();
        error_code read_ec, shutdown_ec;
        std::array<char, 16> buffer{};
        run(
            5s,
            [&]() -> net::awaitable<void> {
                co_await client->async_shutdown(net::redirect_error(kUse, shutdown_ec));
            },
            [&]() -> net::awaitable<void> {
                co_await server->async_read_some(net::buffer(buffer),
                                                 net::redirect_error(kUse, read_ec));
            });
        EXPECT_FALSE(shutdown_ec) << shutdown_ec.message();
        EXPECT_EQ(read_ec, net::error::eof) << read_ec.message();
    }
    {
        auto [client, server] = tls_pair();
        error_code read_ec;
        std::array<char, 16> buffer{};
        client->socket().close();
        run(5s, [&]() -> net::awaitable<void> {
            co_await server->async_read_some(net::buffer(buffer),
                                             net::redirect_error(kUse, read_ec));
        });
        EXPECT_EQ(read_ec, net::ssl::error::stream_truncated) << read_ec.message();
    }
}

TEST_F(StreamTest, ReadsAfterTheSocketWasDrainedGoToTheEventLoopAndLoseNothing) {
    // Once a receive has drained the socket, the next read makes no recv(2) of its own: it
    // waits in the event loop's receive. Bytes that arrive in between, later ones, several
    // records at once, and the close must all still come through, in order.
    auto [client, server] = tls_pair();
    error_code client_ec, server_ec;
    std::string got;
    std::optional<std::size_t> inline_read;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            for (std::string_view piece : {"one", "two", "three"}) {
                net::steady_timer delay(io_, 30ms);
                co_await delay.async_wait(kUse);
                co_await net::async_write(*client, net::buffer(piece),
                                          net::redirect_error(kUse, client_ec));
            }
            // Two records back to back, then a clean close.
            co_await net::async_write(*client, net::buffer(std::string_view("four")),
                                      net::redirect_error(kUse, client_ec));
            co_await net::async_write(*client, net::buffer(std::string_view("five")),
                                      net::redirect_error(kUse, client_ec));
            co_await client->async_shutdown(net::redirect_error(kUse, client_ec));
        },
        [&]() -> net::awaitable<void> {
            std::array<char, 64> buffer{};
            error_code now_ec;
            inline_read = server->read_some_now(net::buffer(buffer), now_ec);  // nothing yet
            for (;;) {
                const std::size_t n = co_await server->async_read_some(
                    net::buffer(buffer), net::redirect_error(kUse, server_ec));
                got.append(buffer.data(), n);
                if (server_ec) break;
            }
        });
    EXPECT_FALSE(client_ec) << client_ec.message();
    EXPECT_FALSE(inline_read.has_value());
    EXPECT_EQ(got, "onetwothreefourfive");
    EXPECT_EQ(server_ec, net::error::eof) << server_ec.message();
}

TEST_F(StreamTest, WaitInputCompletesWhenDataArrivesAndLeavesItReadable) {
    auto [client, server] = tls_pair();
    error_code wait_ec, read_ec, write_ec;
    std::string got(4, '\0');
    bool waited_first = false;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await server->async_wait_input(net::redirect_error(kUse, wait_ec));
            waited_first = got == std::string(4, '\0');
            co_await net::async_read(*server, net::buffer(got), net::redirect_error(kUse, read_ec));
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 100ms);
            co_await delay.async_wait(kUse);
            co_await net::async_write(*client, net::buffer(std::string_view("ping")),
                                      net::redirect_error(kUse, write_ec));
        });
    EXPECT_FALSE(wait_ec) << wait_ec.message();
    EXPECT_TRUE(waited_first);
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_EQ(got, "ping");
}

TEST_F(StreamTest, WaitInputAfterADrainingReadSeesBufferedBytesLaterBytesAndTheClose) {
    // An idle wait after a read that drained the socket skips OpenSSL (the socket is known
    // empty). It must still complete at once for bytes already inside OpenSSL (the rest of a
    // record read in part), and later for new bytes and for close_notify.
    auto [client, server] = tls_pair();
    error_code client_ec, server_ec, wait_ec;
    std::string got;
    std::vector<bool> completed_before_the_client_went_on;
    bool client_went_on = false;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await net::async_write(*client, net::buffer(std::string_view("ab")),
                                      net::redirect_error(kUse, client_ec));
            net::steady_timer delay(io_, 100ms);
            co_await delay.async_wait(kUse);
            client_went_on = true;
            co_await net::async_write(*client, net::buffer(std::string_view("c")),
                                      net::redirect_error(kUse, client_ec));
            delay.expires_after(100ms);
            co_await delay.async_wait(kUse);
            co_await client->async_shutdown(net::redirect_error(kUse, client_ec));
        },
        [&]() -> net::awaitable<void> {
            std::array<char, 1> one{};
            // "a" of the record "ab": "b" stays in OpenSSL, the socket is drained.
            co_await server->async_read_some(net::buffer(one),
                                             net::redirect_error(kUse, server_ec));
            got.append(one.data(), 1);
            for (;;) {
                co_await server->async_wait_input(net::redirect_error(kUse, wait_ec));
                completed_before_the_client_went_on.push_back(!client_went_on);
                if (wait_ec) break;
                std::array<char, 8> buffer{};
                const std::size_t n = co_await server->async_read_some(
                    net::buffer(buffer), net::redirect_error(kUse, server_ec));
                got.append(buffer.data(), n);
                if (server_ec) break;
            }
        });
    EXPECT_FALSE(client_ec) << client_ec.message();
    EXPECT_EQ(wait_ec, net::error::eof) << wait_ec.message();  // the wait reports the close
    EXPECT_FALSE(server_ec) << server_ec.message();
    EXPECT_EQ(got, "abc");
    // "b" was there at once; "c" and the close came after the client went on.
    ASSERT_EQ(completed_before_the_client_went_on.size(), 3u);
    EXPECT_TRUE(completed_before_the_client_went_on[0]);
    EXPECT_FALSE(completed_before_the_client_went_on[1]);
    EXPECT_FALSE(completed_before_the_client_went_on[2]);
}

TEST_F(StreamTest, IdleWaitReceivesSmallAndLargeRecordsIntact) {
    // The idle wait receives into a small buffer of the stream's own: a record larger than it
    // must be completed from the socket, several records at once must all come through, and
    // each wait must see the next message, in order, up to the close.
    auto [client, server] = tls_pair();
    error_code client_ec, server_ec, wait_ec;
    std::string large(3000, '\0');
    for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>('a' + i % 26);
    const std::string expected = "tiny" + large + "xy" + "z";
    std::string got;
    int waits = 0;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 50ms);
            for (const std::string& piece : {std::string("tiny"), large}) {
                co_await delay.async_wait(kUse);
                co_await net::async_write(*client, net::buffer(piece),
                                          net::redirect_error(kUse, client_ec));
                delay.expires_after(50ms);
            }
            co_await delay.async_wait(kUse);
            // Two records in one go, then the close.
            co_await net::async_write(*client, net::buffer(std::string_view("xy")),
                                      net::redirect_error(kUse, client_ec));
            co_await net::async_write(*client, net::buffer(std::string_view("z")),
                                      net::redirect_error(kUse, client_ec));
            co_await client->async_shutdown(net::redirect_error(kUse, client_ec));
        },
        [&]() -> net::awaitable<void> {
            std::array<char, 700> buffer{};
            for (;;) {
                co_await server->async_wait_input(net::redirect_error(kUse, wait_ec));
                ++waits;
                if (wait_ec) break;
                // Read what is there now, without waiting again.
                error_code now_ec;
                while (auto n = server->read_some_now(net::buffer(buffer), now_ec)) {
                    got.append(buffer.data(), *n);
                    if (now_ec) break;
                }
                if (now_ec) {
                    server_ec = now_ec;
                    break;
                }
            }
        });
    EXPECT_FALSE(client_ec) << client_ec.message();
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_EQ(got, expected);
    EXPECT_GE(waits, 3);
    EXPECT_TRUE(wait_ec == net::error::eof || server_ec == net::error::eof)
        << wait_ec.message() << " / " << server_ec.message();
}

TEST_F(StreamTest, ReadPastTheDeadlineTimesOutAndStaysTimedOut) {
    auto [client, server] = tls_pair();
    error_code first, second;
    std::array<char, 16> buffer{};
    const auto started = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration took{};
    server->expires_after(150ms);
    run(5s, [&]() -> net::awaitable<void> {
        co_await server->async_read_some(net::buffer(buffer), net::redirect_error(kUse, first));
        took = std::chrono::steady_clock::now() - started;
        server->expires_after(10s);
        co_await server->async_read_some(net::buffer(buffer), net::redirect_error(kUse, second));
    });
    EXPECT_EQ(first, boost::beast::error::timeout) << first.message();
    EXPECT_GE(took, 140ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(second, boost::beast::error::timeout) << second.message();
    EXPECT_FALSE(server->socket().is_open());
}

// The deadline only judges operations in progress: one that passes while the stream is idle
// does not kill it, and a later expires_after gives the next operation its own time.
TEST_F(StreamTest, DeadlinePassingWhileIdleDoesNotKillTheStream) {
    auto [client, server] = tls_pair();
    error_code read_ec, write_ec;
    std::string got(2, '\0');
    run(
        5s,
        [&]() -> net::awaitable<void> {
            server->expires_after(50ms);
            net::steady_timer idle(io_, 300ms);
            co_await idle.async_wait(kUse);
            server->expires_after(5s);
            co_await net::async_read(*server, net::buffer(got), net::redirect_error(kUse, read_ec));
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 400ms);
            co_await delay.async_wait(kUse);
            co_await net::async_write(*client, net::buffer(std::string_view("ok")),
                                      net::redirect_error(kUse, write_ec));
        });
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_EQ(got, "ok");
}

// An operation begun after its deadline passed fails at once, like beast::tcp_stream's.
TEST_F(StreamTest, OperationBegunAfterTheDeadlineFailsWithTimeout) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    error_code ec;
    std::array<char, 4> buffer{};
    server.expires_after(20ms);
    run(5s, [&]() -> net::awaitable<void> {
        net::steady_timer idle(io_, 100ms);
        co_await idle.async_wait(kUse);
        co_await server.async_read_some(net::buffer(buffer), net::redirect_error(kUse, ec));
    });
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
}

TEST_F(StreamTest, PlainStreamCarriesDataAndTimesOutAPendingRead) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    error_code read_ec, timeout_ec;
    std::string got(3, '\0');
    std::array<char, 4> buffer{};
    run(5s, [&]() -> net::awaitable<void> {
        co_await net::async_write(c, net::buffer(std::string_view("abc")), kUse);
        server.expires_after(2s);
        co_await net::async_read(server, net::buffer(got), net::redirect_error(kUse, read_ec));
        server.expires_after(100ms);
        co_await server.async_read_some(net::buffer(buffer), net::redirect_error(kUse, timeout_ec));
    });
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(got, "abc");
    EXPECT_EQ(timeout_ec, boost::beast::error::timeout) << timeout_ec.message();
}

// A deadline moved earlier while a wait for a later one is outstanding still applies.
TEST_F(StreamTest, ShortenedDeadlineIsHonoured) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    error_code ec;
    std::array<char, 4> buffer{};
    const auto started = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration took{};
    server.expires_after(30s);
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await server.async_read_some(net::buffer(buffer), net::redirect_error(kUse, ec));
            took = std::chrono::steady_clock::now() - started;
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 50ms);
            co_await delay.async_wait(kUse);
            server.expires_after(100ms);
        });
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
    EXPECT_LT(took, 2s);
}

}  // namespace
}  // namespace cloakroom::proxy
