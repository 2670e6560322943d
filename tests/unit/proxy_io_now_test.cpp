// io_now.hpp over real loopback sockets: operations that can complete at once do so without the
// event loop (no handler runs in between), the ones that cannot fall back to the async path
// without losing or reordering bytes, a read that would block makes the next async read wait
// for the socket, Beast's read_some is reproduced for buffered and read-until-close bodies, the
// streak limit hands every 33rd operation to the event loop, and a timed-out stream refuses.
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>

#include "proxy/io_now.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/tls_stream.hpp"
#include "stream_test_support.hpp"

namespace cloakroom::proxy {
namespace {

using namespace testing_support;
namespace bhttp = boost::beast::http;

// Counts handlers the event loop runs while a coroutine does inline work: a posted marker that
// has not run yet proves nothing went through the loop in between.
struct LoopProbe {
    bool ran = false;
    void arm(net::io_context& io) {
        ran = false;
        net::post(io, [this] { ran = true; });
    }
};

TEST(InlineStreak, EveryOperationAfterTheLimitGoesThroughTheEventLoop) {
    end_inline_streak();
    for (int i = 0; i < io_now_detail::kInlineStreak; ++i) {
        EXPECT_TRUE(take_inline_turn()) << "turn " << i;
    }
    EXPECT_FALSE(take_inline_turn());  // the 33rd: through the loop, and the streak restarts
    EXPECT_TRUE(take_inline_turn());
    for (int i = 1; i < io_now_detail::kInlineStreak - 5; ++i) take_inline_turn();
    end_inline_streak();  // a wait in between: a full streak again
    for (int i = 0; i < io_now_detail::kInlineStreak; ++i) EXPECT_TRUE(take_inline_turn());
    end_inline_streak();
}

TEST_F(StreamTest, TlsReadAndWriteCompleteInlineWhenTheSocketIsReady) {
    auto [client, server] = tls_pair();
    end_inline_streak();
    LoopProbe probe;
    std::optional<std::size_t> wrote_now_ok, read_now_size;
    error_code write_ec, wait_ec, read_ec;
    std::array<char, 64> got{};
    run(
        5s,
        [&]() -> net::awaitable<void> {
            const std::string_view text = "inline hello";
            std::size_t written = 0;
            probe.arm(io_);
            const bool done = write_all_now(*client, net::buffer(text), written, write_ec);
            EXPECT_FALSE(probe.ran);
            if (done) wrote_now_ok = written;
            co_return;
        },
        [&]() -> net::awaitable<void> {
            co_await server->async_wait_input(net::redirect_error(kUse, wait_ec));
            probe.arm(io_);
            read_now_size = read_now(*server, net::buffer(got), read_ec);
            EXPECT_FALSE(probe.ran) << "the read went through the event loop";
        });
    ASSERT_TRUE(wrote_now_ok.has_value());
    EXPECT_EQ(*wrote_now_ok, 12u);
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_FALSE(wait_ec) << wait_ec.message();
    ASSERT_TRUE(read_now_size.has_value());
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(std::string(got.data(), *read_now_size), "inline hello");
}

// Nothing to read: read_now says so, and the async read that follows waits for the socket
// (it must not complete, or hang, before the peer writes) and then delivers the bytes.
TEST_F(StreamTest, TlsReadThatWouldBlockFallsBackToAWaitingAsyncRead) {
    auto [client, server] = tls_pair();
    end_inline_streak();
    bool would_block = false;
    bool sent = false;
    bool read_after_send = false;
    error_code read_ec, write_ec;
    std::array<char, 64> got{};
    std::size_t n = 0;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            would_block = !read_now(*server, net::buffer(got), read_ec).has_value();
            n = co_await server->async_read_some(net::buffer(got),
                                                 net::redirect_error(kUse, read_ec));
            read_after_send = sent;
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 100ms);
            co_await delay.async_wait(kUse);
            sent = true;
            co_await net::async_write(*client, net::buffer(std::string_view("late")),
                                      net::redirect_error(kUse, write_ec));
        });
    EXPECT_TRUE(would_block);
    EXPECT_TRUE(read_after_send);
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_EQ(std::string(got.data(), n), "late");
}

// The "wait before reading" hint left by a read that would block must not outlive the next
// operation: here the peek of async_wait_input pulls the record into OpenSSL, so the socket has
// nothing more, and an async read that still waited for it would hang.
TEST_F(StreamTest, TlsWaitHintIsDroppedByTheNextOperation) {
    auto [client, server] = tls_pair();
    end_inline_streak();
    bool would_block = false;
    error_code wait_ec, read_ec, write_ec;
    std::array<char, 16> got{};
    std::size_t n = 0;
    run(
        3s,
        [&]() -> net::awaitable<void> {
            would_block = !read_now(*server, net::buffer(got), read_ec).has_value();
            co_await server->async_wait_input(net::redirect_error(kUse, wait_ec));
            n = co_await server->async_read_some(net::buffer(got),
                                                 net::redirect_error(kUse, read_ec));
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 50ms);
            co_await delay.async_wait(kUse);
            co_await net::async_write(*client, net::buffer(std::string_view("once")),
                                      net::redirect_error(kUse, write_ec));
        });
    EXPECT_TRUE(would_block);
    EXPECT_FALSE(wait_ec) << wait_ec.message();
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(std::string(got.data(), n), "once");
}

// 3 MiB through a peer that reads only later: write_all_now sends what the socket takes and
// leaves the rest to async_write(suffix_after(...)); every byte arrives once, in order.
TEST_F(StreamTest, WriteAllNowHandsTheRestToAsyncWriteWithoutLosingBytes) {
    auto [client, server] = tls_pair();
    // Small kernel buffers, or loopback autotuning swallows megabytes.
    server->socket().set_option(net::socket_base::send_buffer_size(64 * 1024));
    client->socket().set_option(net::socket_base::receive_buffer_size(64 * 1024));
    end_inline_streak();
    const std::string head = "HEAD:";
    const std::string body = pattern(3 * 1024 * 1024);
    const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(body)};
    bool finished_now = true;
    std::size_t written_now = 0;
    error_code write_ec, read_ec;
    std::string got(head.size() + body.size(), '\0');
    run(
        10s,
        [&]() -> net::awaitable<void> {
            finished_now = write_all_now(*server, buffers, written_now, write_ec);
            if (!finished_now) {
                co_await net::async_write(*server, suffix_after(buffers, written_now),
                                          net::redirect_error(kUse, write_ec));
            }
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 100ms);
            co_await delay.async_wait(kUse);
            co_await net::async_read(*client, net::buffer(got), net::redirect_error(kUse, read_ec));
        });
    EXPECT_FALSE(finished_now) << "3 MiB fit in the socket buffers: the test proves nothing";
    EXPECT_GT(written_now, 0u);
    EXPECT_LT(written_now, head.size() + body.size());
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_TRUE(got == head + body) << "bytes lost or reordered";
}

TEST_F(StreamTest, PlainStreamReadsInlineAndWaitsAfterWouldBlock) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    end_inline_streak();
    std::optional<std::size_t> first, second;
    std::size_t late = 0;
    error_code ec1, ec2, ec3;
    std::array<char, 32> got{};
    std::string late_text;
    run(
        5s,
        [&]() -> net::awaitable<void> {
            co_await net::async_write(c, net::buffer(std::string_view("now")), kUse);
            net::steady_timer settle(io_, 50ms);
            co_await settle.async_wait(kUse);
            first = read_now(server, net::buffer(got), ec1);
            second = read_now(server, net::buffer(got.data() + 3, 29), ec2);
            late = co_await server.async_read_some(net::buffer(got.data() + 3, 29),
                                                   net::redirect_error(kUse, ec3));
            late_text.assign(got.data() + 3, late);
        },
        [&]() -> net::awaitable<void> {
            net::steady_timer delay(io_, 150ms);
            co_await delay.async_wait(kUse);
            co_await net::async_write(c, net::buffer(std::string_view("then")), kUse);
        });
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(ec1) << ec1.message();
    EXPECT_EQ(std::string(got.data(), *first), "now");
    EXPECT_FALSE(second.has_value()) << "nothing was sent: the read should have to wait";
    EXPECT_FALSE(ec3) << ec3.message();
    EXPECT_EQ(late_text, "then");
}

TEST_F(StreamTest, TimedOutStreamRefusesInlineOperations) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    error_code read_ec, now_read_ec, now_write_ec;
    std::array<char, 8> buffer{};
    std::optional<std::size_t> read, wrote;
    bool write_done = false;
    std::size_t written = 0;
    server.expires_after(30ms);
    run(5s, [&]() -> net::awaitable<void> {
        co_await server.async_read_some(net::buffer(buffer), net::redirect_error(kUse, read_ec));
        read = read_now(server, net::buffer(buffer), now_read_ec);
        write_done =
            write_all_now(server, net::buffer(std::string_view("x")), written, now_write_ec);
    });
    EXPECT_EQ(read_ec, boost::beast::error::timeout) << read_ec.message();
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(*read, 0u);
    EXPECT_EQ(now_read_ec, boost::beast::error::timeout) << now_read_ec.message();
    EXPECT_TRUE(write_done);
    EXPECT_EQ(written, 0u);
    EXPECT_EQ(now_write_ec, boost::beast::error::timeout) << now_write_ec.message();
}

// A response whose body is already buffered is parsed without touching the socket (the peer
// sends nothing more); one whose body is incomplete needs the async read, which finishes it.
TEST_F(StreamTest, ParsedReadUsesBufferedBytesAndFallsBackForTheRest) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    end_inline_streak();
    boost::beast::flat_buffer buffer;
    const std::string whole = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    net::buffer_copy(buffer.prepare(whole.size()), net::buffer(whole));
    buffer.commit(whole.size());
    bhttp::response_parser<bhttp::string_body> complete;
    error_code ec;
    while (!complete.is_done() && read_some_parsed_now(server, buffer, complete, ec) && !ec) {
    }
    EXPECT_FALSE(ec) << ec.message();
    ASSERT_TRUE(complete.is_done());
    EXPECT_EQ(complete.get().body(), "hello");
    EXPECT_EQ(buffer.size(), 0u);

    const std::string partial = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
    net::buffer_copy(buffer.prepare(partial.size()), net::buffer(partial));
    buffer.commit(partial.size());
    bhttp::response_parser<bhttp::string_body> rest;
    bool needed_wait = false;
    error_code async_ec;  // ec stays clean when the inline step only says "wait"
    run(5s, [&]() -> net::awaitable<void> {
        ec = {};
        while (!rest.is_done()) {
            if (!read_some_parsed_now(server, buffer, rest, ec)) {
                needed_wait = true;
                co_await net::async_write(c, net::buffer(std::string_view("world")), kUse);
                co_await bhttp::async_read_some(server, buffer, rest,
                                                net::redirect_error(kUse, async_ec));
                if (async_ec) break;
            } else if (ec) {
                break;
            }
        }
    });
    EXPECT_TRUE(needed_wait);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(async_ec) << async_ec.message();
    ASSERT_TRUE(rest.is_done());
    EXPECT_EQ(rest.get().body(), "helloworld");
}

// Like Beast: a body read until the connection closes ends cleanly at EOF; EOF before any byte
// of a message is end_of_stream.
TEST_F(StreamTest, ParsedReadTreatsEofAsBeastDoes) {
    auto [c, s] = connect();
    PlainStream server(std::move(s));
    end_inline_streak();
    net::write(c, net::buffer(std::string_view("HTTP/1.1 200 OK\r\n\r\nuntil close")));
    c.shutdown(tcp::socket::shutdown_send);
    boost::beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    error_code ec;
    run(5s, [&]() -> net::awaitable<void> {
        net::steady_timer settle(io_, 50ms);
        co_await settle.async_wait(kUse);
        while (!parser.is_done()) {
            if (!read_some_parsed_now(server, buffer, parser, ec)) {
                co_await bhttp::async_read_some(server, buffer, parser,
                                                net::redirect_error(kUse, ec));
            }
            if (ec) break;
        }
    });
    EXPECT_FALSE(ec) << ec.message();
    ASSERT_TRUE(parser.is_done());
    EXPECT_EQ(parser.get().body(), "until close");

    bhttp::response_parser<bhttp::string_body> next;
    error_code next_ec;
    EXPECT_TRUE(read_some_parsed_now(server, buffer, next, next_ec));
    EXPECT_EQ(next_ec, bhttp::error::end_of_stream) << next_ec.message();
}

}  // namespace
}  // namespace cloakroom::proxy
