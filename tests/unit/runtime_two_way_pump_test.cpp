// The one two-way pump over real loopback sockets: half-closed tunnels, the idle watch, filters
// that stop a session with or without letting the other direction finish, last words, and the
// goodbye rule. Each test runs one io_context; the "agent" and the "server" are coroutines on it.
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
#include <optional>
#include <string>
#include <utility>

#include "runtime/socket_io.hpp"
#include "runtime/two_way_pump.hpp"

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

// A connected pair whose buffers are a few KiB (receive buffers set before the connection, so
// the advertised window is small too): a 32 KiB write never fits at once.
std::pair<tcp::socket, tcp::socket> small_buffer_pair(net::io_context& io) {
    const net::socket_base::receive_buffer_size small_receive(4096);
    const net::socket_base::send_buffer_size small_send(4096);
    tcp::acceptor acceptor(io);
    const tcp::endpoint any(net::ip::make_address("127.0.0.1"), 0);
    acceptor.open(any.protocol());
    acceptor.set_option(small_receive);  // inherited by the accepted socket
    acceptor.bind(any);
    acceptor.listen();
    tcp::socket near(io);
    near.open(any.protocol());
    near.set_option(small_receive);
    near.set_option(small_send);
    near.connect(acceptor.local_endpoint());
    tcp::socket far = acceptor.accept();
    far.set_option(small_send);
    return {std::move(near), std::move(far)};
}

// Everything the peer reads until EOF (or an error).
net::awaitable<std::string> read_all(tcp::socket& socket) {
    std::string all;
    char buffer[4096];
    boost::system::error_code ec;
    for (;;) {
        const std::size_t n = co_await socket.async_read_some(
            net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        all.append(buffer, n);
    }
    co_return all;
}

net::awaitable<void> write(tcp::socket& socket, std::string bytes) {
    boost::system::error_code ec;
    co_await net::async_write(socket, net::buffer(bytes),
                              net::redirect_error(net::use_awaitable, ec));
}

net::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
    net::steady_timer timer(co_await net::this_coro::executor, duration);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
}

// The pump between agent↔A and B↔server; `body` plays agent and server.
struct Rig {
    explicit Rig(bool small_buffers = false) : small(small_buffers) {}
    net::io_context io;
    bool small;
    std::pair<tcp::socket, tcp::socket> agent_pair =
        small ? small_buffer_pair(io) : connected_pair(io);  // agent, a
    std::pair<tcp::socket, tcp::socket> server_pair =
        small ? small_buffer_pair(io) : connected_pair(io);  // b, server
    tcp::socket& agent = agent_pair.first;
    tcp::socket& server = server_pair.second;
    SocketSide a{agent_pair.second};
    SocketSide b{server_pair.first};
    std::optional<PumpResult> result;
    std::chrono::steady_clock::duration took{};

    void run(PumpOptions options) {
        const auto start = std::chrono::steady_clock::now();
        net::co_spawn(
            io,
            [this, start, options = std::move(options)]() mutable -> net::awaitable<void> {
                result = co_await pump_both_ways(a, b, std::move(options));
                took = std::chrono::steady_clock::now() - start;
            },
            net::detached);
    }
};

TEST(TwoWayPump, TunnelPassesHalfClosesBothWays) {
    Rig rig;
    PumpOptions options;
    options.end_mode = EndMode::HalfClose;
    options.pending_a_to_b = "early ";
    rig.run(std::move(options));
    std::string server_got, agent_got;
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            co_await write(rig.agent, "request");
            rig.agent.shutdown(tcp::socket::shutdown_send);
            agent_got = co_await read_all(rig.agent);
        },
        net::detached);
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            server_got = co_await read_all(rig.server);  // EOF only after the agent's half-close
            co_await write(rig.server, "answer after the agent's EOF");
            rig.server.shutdown(tcp::socket::shutdown_send);
        },
        net::detached);
    rig.io.run();
    ASSERT_TRUE(rig.result);
    EXPECT_EQ(server_got, "early request");
    EXPECT_EQ(agent_got, "answer after the agent's EOF");
    EXPECT_EQ(rig.result->a_to_b, 13u);
    EXPECT_EQ(rig.result->b_to_a, 28u);
    EXPECT_EQ(rig.result->ended_by, "client");
}

TEST(TwoWayPump, CloseModeEndsBothSidesWhenOneCloses) {
    Rig rig;
    rig.run(PumpOptions{});
    std::string agent_got;
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            co_await write(rig.agent, "q");
            agent_got = co_await read_all(rig.agent);  // ends because the pump closes A
        },
        net::detached);
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            char c;
            co_await net::async_read(rig.server, net::buffer(&c, 1), net::use_awaitable);
            co_await write(rig.server, "bye");
            rig.server.close();
        },
        net::detached);
    rig.io.run();
    ASSERT_TRUE(rig.result);
    EXPECT_EQ(agent_got, "bye");
    EXPECT_EQ(rig.result->ended_by, "upstream");
}

TEST(TwoWayPump, IdleRelayEndsAndBusyRelayDoesNot) {
    Rig rig;
    PumpOptions options;
    options.end_mode = EndMode::HalfClose;
    options.idle_timeout = 100ms;
    rig.run(std::move(options));
    std::string agent_got;
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            // Traffic every 40 ms for 400 ms: never idle for a whole period.
            for (int i = 0; i < 10; ++i) {
                co_await write(rig.agent, "x");
                co_await sleep_for(40ms);
            }
            agent_got = co_await read_all(rig.agent);  // then silence until the idle end
        },
        net::detached);
    net::co_spawn(
        rig.io, [&]() -> net::awaitable<void> { co_await read_all(rig.server); }, net::detached);
    rig.io.run();
    ASSERT_TRUE(rig.result);
    EXPECT_EQ(rig.result->ended_by, "idle");
    EXPECT_EQ(rig.result->a_to_b, 10u);
    EXPECT_GE(rig.took, 400ms + 100ms);
    EXPECT_LT(rig.took, 400ms + 100ms * 2 + 300ms);
}

// Forwards chunks until it sees "BAD"; then stops with last words.
class StopOnBad final : public PumpFilter {
  public:
    explicit StopOnBad(bool in_band) : in_band_(in_band) {}
    Verdict feed(std::string_view chunk, std::string& out) override {
        const auto bad = chunk.find("BAD");
        if (bad == std::string_view::npos) {
            out.append(chunk);
            return Verdict::Continue;
        }
        out.append(chunk.substr(0, bad));
        if (in_band_) out.append("MARK");  // the server answers it with the error in place
        return Verdict::Stop;
    }
    std::string stop_reason() const override { return "bad command"; }
    bool lets_other_direction_finish() const override { return in_band_; }
    std::string last_words() override { return in_band_ ? "" : "ERR bad\n"; }

  private:
    bool in_band_;
};

// Passes replies on; stops after the reply to MARK.
class StopAfterMark final : public PumpFilter {
  public:
    Verdict feed(std::string_view chunk, std::string& out) override {
        out.append(chunk);
        return chunk.find("marked") == std::string_view::npos ? Verdict::Continue : Verdict::Stop;
    }
};

TEST(TwoWayPump, FilterStopClosesUpstreamThenSendsLastWordsAfterWhatWasInFlight) {
    Rig rig;
    StopOnBad filter(/*in_band=*/false);
    PumpOptions options;
    options.a_to_b = &filter;
    rig.run(std::move(options));
    std::string agent_got, server_got;
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            co_await write(rig.agent, "one;");
            co_await sleep_for(30ms);
            co_await write(rig.agent, "two;BAD;three;");
            agent_got = co_await read_all(rig.agent);
        },
        net::detached);
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            char first[4];
            co_await net::async_read(rig.server, net::buffer(first), net::use_awaitable);
            co_await write(rig.server, "reply-one;");
            server_got = std::string(first, 4) + co_await read_all(rig.server);
        },
        net::detached);
    rig.io.run();
    ASSERT_TRUE(rig.result);
    EXPECT_EQ(server_got, "one;two;") << "nothing after the bad command reaches the server";
    EXPECT_EQ(agent_got, "reply-one;ERR bad\n");
    EXPECT_EQ(rig.result->ended_by, "bad command");
    EXPECT_EQ(rig.result->b_to_a, agent_got.size()) << "last words are counted";
    EXPECT_LT(rig.took, 1s) << "no grace period is waited out when the upstream is cut";
}

TEST(TwoWayPump, InBandStopLetsTheRepliesFinishAndEndsWhenBothFiltersStopped) {
    Rig rig;
    StopOnBad commands(/*in_band=*/true);
    StopAfterMark replies;
    PumpOptions options;
    options.a_to_b = &commands;
    options.b_to_a = &replies;
    options.grace = 5s;
    rig.run(std::move(options));
    std::string agent_got;
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            co_await write(rig.agent, "one;BAD");
            agent_got = co_await read_all(rig.agent);
        },
        net::detached);
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            std::string got;
            char buffer[64];
            while (got.find("MARK") == std::string::npos) {
                const std::size_t n =
                    co_await rig.server.async_read_some(net::buffer(buffer), net::use_awaitable);
                got.append(buffer, n);
            }
            co_await sleep_for(50ms);  // the server is slow to answer; the pump must wait
            co_await write(rig.server, "reply-one;error marked;");
            co_await read_all(rig.server);
        },
        net::detached);
    rig.io.run();
    ASSERT_TRUE(rig.result);
    EXPECT_EQ(agent_got, "reply-one;error marked;");
    EXPECT_EQ(rig.result->ended_by, "bad command");
    EXPECT_LT(rig.took, 2s) << "both filters stopped: neither waits out the grace period";
}

TEST(TwoWayPump, InBandStopEndsAfterTheGracePeriodWhenTheServerNeverAnswers) {
    Rig rig;
    StopOnBad commands(/*in_band=*/true);
    PumpOptions options;
    options.a_to_b = &commands;
    options.grace = 150ms;
    rig.run(std::move(options));
    std::string agent_got;
    net::co_spawn(
        rig.io,
        [&]() -> net::awaitable<void> {
            co_await write(rig.agent, "BAD");
            agent_got = co_await read_all(rig.agent);
        },
        net::detached);
    net::co_spawn(
        rig.io, [&]() -> net::awaitable<void> { co_await read_all(rig.server); }, net::detached);
    rig.io.run();
    ASSERT_TRUE(rig.result);
    EXPECT_EQ(agent_got, "");
    EXPECT_GE(rig.took, 150ms);
    EXPECT_LT(rig.took, 1s);
}

TEST(TwoWayPump, TheClientsGoodbyeMakesItTheOneWhoEnded) {
    for (const bool says_goodbye : {true, false}) {
        Rig rig;
        PumpOptions options;
        options.a_goodbye = "QUIT";
        rig.run(std::move(options));
        net::co_spawn(
            rig.io,
            [&]() -> net::awaitable<void> {
                co_await write(rig.agent, says_goodbye ? "work;QUIT" : "work;");
                co_await read_all(rig.agent);
            },
            net::detached);
        net::co_spawn(
            rig.io,
            [&]() -> net::awaitable<void> {
                char buffer[9];
                co_await net::async_read(rig.server, net::buffer(buffer, says_goodbye ? 9 : 5),
                                         net::use_awaitable);
                rig.server.close();  // the server's close is seen first
            },
            net::detached);
        rig.io.run();
        ASSERT_TRUE(rig.result);
        EXPECT_EQ(rig.result->ended_by, says_goodbye ? "client" : "upstream");
    }
}

// With small socket buffers every 32 KiB chunk is only partly taken by the non-blocking send
// (try_write), and the rest goes through the reactor (write_all).
TEST(TwoWayPump, LargeTransfersArriveWholeInBothDirections) {
    for (const bool small_buffers : {false, true}) {
        SCOPED_TRACE(small_buffers ? "small socket buffers" : "default socket buffers");
        Rig rig(small_buffers);
        PumpOptions options;
        options.end_mode = EndMode::HalfClose;
        rig.run(std::move(options));
        std::string up(3 * 1024 * 1024 + 17, 'u');
        std::string down(2 * 1024 * 1024 + 5, 'd');
        for (std::size_t i = 0; i < up.size(); i += 4099) up[i] = static_cast<char>('a' + i % 26);
        std::string agent_got, server_got;
        net::co_spawn(
            rig.io,
            [&]() -> net::awaitable<void> {
                co_await write(rig.agent, up);
                rig.agent.shutdown(tcp::socket::shutdown_send);
            },
            net::detached);
        net::co_spawn(
            rig.io, [&]() -> net::awaitable<void> { agent_got = co_await read_all(rig.agent); },
            net::detached);
        net::co_spawn(
            rig.io,
            [&]() -> net::awaitable<void> {
                co_await write(rig.server, down);
                rig.server.shutdown(tcp::socket::shutdown_send);
            },
            net::detached);
        net::co_spawn(
            rig.io, [&]() -> net::awaitable<void> { server_got = co_await read_all(rig.server); },
            net::detached);
        rig.io.run();
        ASSERT_TRUE(rig.result);
        // Compared without printing megabytes on a failure.
        EXPECT_EQ(server_got.size(), up.size());
        EXPECT_TRUE(server_got == up);
        EXPECT_EQ(agent_got.size(), down.size());
        EXPECT_TRUE(agent_got == down);
    }
}

}  // namespace
}  // namespace cloakroom::runtime
