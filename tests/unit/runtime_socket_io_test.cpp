// SocketIo over real loopback sockets: reads that wait for the reactor after the socket was
// drained must still see every byte and the end of the stream, in particular a FIN that arrives
// in the same segment as the last bytes (TCP consumes it with them, and its readiness report is
// already spent), and writes that would block fall back to the reactor.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <utility>

#include "runtime/socket_io.hpp"

namespace cloakroom::runtime {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::pair<tcp::socket, tcp::socket> connected_pair(net::io_context& io) {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket near(io);
    near.connect(acceptor.local_endpoint());
    tcp::socket far = acceptor.accept();
    return {std::move(near), std::move(far)};
}

// Sends `bytes` and the FIN in one segment (corked until the shutdown), from the io thread, so
// both are queued before the reader's reactor wakes up.
void send_with_fin(tcp::socket& socket, const std::string& bytes) {
    const int fd = socket.native_handle();
    int on = 1;
    ASSERT_EQ(::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on), 0);
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
}

net::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
    net::steady_timer timer(co_await net::this_coro::executor, duration);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
}

struct Outcome {
    std::string got;
    boost::system::error_code end;
    bool finished = false;
};

// Reads with SocketIo until an error; the reader is always waiting in the reactor (the socket
// drained) when the peer's next bytes arrive.
net::awaitable<void> read_until_end(SocketIo& io, std::size_t chunk, Outcome& out) {
    std::string buffer(chunk, '\0');
    for (;;) {
        boost::system::error_code ec;
        const std::size_t n = co_await io.read_some(net::buffer(buffer), ec);
        if (ec) {
            out.end = ec;
            break;
        }
        out.got.append(buffer.data(), n);
    }
    out.finished = true;
}

TEST(SocketIo, BytesAndFinInOneSegmentAfterAWaitEndTheStream) {
    net::io_context io;
    auto [reader_socket, peer] = connected_pair(io);
    SocketIo reader(reader_socket);
    Outcome out;
    net::co_spawn(io, read_until_end(reader, 4096, out), net::detached);
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            boost::system::error_code ec;
            co_await net::async_write(peer, net::buffer(std::string("first")),
                                      net::redirect_error(net::use_awaitable, ec));
            co_await sleep_for(50ms);  // the reader drains "first" and waits in the reactor
            send_with_fin(peer, "last words");
        },
        net::detached);
    io.run_for(5s);
    ASSERT_TRUE(out.finished) << "the reader never saw the end of the stream";
    EXPECT_EQ(out.got, "firstlast words");
    EXPECT_EQ(out.end, net::error::eof);
}

TEST(SocketIo, BytesAndFinBeforeTheFirstReadEndTheStream) {
    net::io_context io;
    auto [reader_socket, peer] = connected_pair(io);
    send_with_fin(peer, "all at once");
    SocketIo reader(reader_socket);
    Outcome out;
    net::co_spawn(io, read_until_end(reader, 4096, out), net::detached);
    io.run_for(5s);
    ASSERT_TRUE(out.finished);
    EXPECT_EQ(out.got, "all at once");
    EXPECT_EQ(out.end, net::error::eof);
}

TEST(SocketIo, ManySmallMessagesAndLargeOnesArriveWholeThroughSmallBuffers) {
    for (const std::size_t chunk : {1u, 2u, 7u, 4096u, 65536u}) {
        net::io_context io;
        auto [reader_socket, writer_socket] = connected_pair(io);
        SocketIo reader(reader_socket);
        SocketIo writer(writer_socket);
        std::string sent;
        Outcome out;
        net::co_spawn(io, read_until_end(reader, chunk, out), net::detached);
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                boost::system::error_code ec;
                for (int i = 0; i < 40 && !ec; ++i) {
                    // Alternately small messages with pauses (the reader waits in the reactor)
                    // and 3 MiB at once (the writer's kernel buffer fills: the reactor finishes).
                    const std::size_t big = chunk >= 4096 ? 3u << 20 : 20u << 10;
                    std::string message = i % 8 == 7
                                              ? std::string(big, static_cast<char>('a' + i % 26))
                                              : "message " + std::to_string(i) + ";";
                    sent += message;
                    co_await writer.write_all(message, ec);
                    if (i % 3 == 0) co_await sleep_for(2ms);
                }
                EXPECT_FALSE(ec) << ec.message();
                writer_socket.shutdown(tcp::socket::shutdown_send);
            },
            net::detached);
        io.run_for(60s);
        ASSERT_TRUE(out.finished) << "chunk " << chunk;
        EXPECT_EQ(out.got.size(), sent.size()) << "chunk " << chunk;
        EXPECT_TRUE(out.got == sent) << "chunk " << chunk;
        EXPECT_EQ(out.end, net::error::eof);
    }
}

TEST(SocketIo, ClosingTheSocketEndsAWaitingRead) {
    net::io_context io;
    auto [reader_socket, peer] = connected_pair(io);
    SocketIo reader(reader_socket);
    Outcome out;
    net::co_spawn(io, read_until_end(reader, 4096, out), net::detached);
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            co_await sleep_for(20ms);
            reader_socket.close();
        },
        net::detached);
    io.run_for(5s);
    ASSERT_TRUE(out.finished);
    EXPECT_EQ(out.end, net::error::operation_aborted);
}

TEST(SocketIo, WritesToAClosedPeerFailInsteadOfRaisingSigpipe) {
    net::io_context io;
    auto [writer_socket, peer] = connected_pair(io);
    SocketIo writer(writer_socket);
    peer.close();
    boost::system::error_code ec;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            for (int i = 0; i < 100 && !ec; ++i) {
                co_await writer.write_all(std::string(64 * 1024, 'x'), ec);
                co_await sleep_for(1ms);
            }
        },
        net::detached);
    io.run_for(10s);
    EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace cloakroom::runtime
