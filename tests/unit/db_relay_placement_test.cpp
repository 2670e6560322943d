// Where logged-in database sessions relay (db/relay_placement.hpp): the relay context with the
// fewest sessions is picked, leases count sessions until they end, and a plaintext stream moved
// to another io_context keeps its bytes and works there alone.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <vector>

#include "db/relay_placement.hpp"
#include "db/stream.hpp"

namespace cloakroom::db {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

TEST(RelayPlacement, PicksTheContextWithTheFewestSessions) {
    net::io_context a, b, c;
    auto placement = std::make_shared<RelayPlacement>(std::vector<net::io_context*>{&a, &b, &c});
    auto first = RelayPlacement::take(placement);
    auto second = RelayPlacement::take(placement);
    auto third = RelayPlacement::take(placement);
    ASSERT_TRUE(first && second && third);
    EXPECT_EQ(&first->context(), &a);
    EXPECT_EQ(&second->context(), &b);
    EXPECT_EQ(&third->context(), &c);
    second.reset();  // b's session ended: b is the emptiest
    auto fourth = RelayPlacement::take(placement);
    ASSERT_TRUE(fourth);
    EXPECT_EQ(&fourth->context(), &b);
    EXPECT_EQ(placement->load(0), 1u);
    EXPECT_EQ(placement->load(1), 1u);
    EXPECT_EQ(placement->load(2), 1u);
    RelayPlacement::Lease moved(std::move(*fourth));
    fourth.reset();  // the moved-from lease does not count down
    EXPECT_EQ(placement->load(1), 1u);
}

TEST(RelayPlacement, WithoutRelayContextsSessionsStayWhereTheyAre) {
    EXPECT_FALSE(RelayPlacement::take(nullptr));
    auto none = std::make_shared<RelayPlacement>(std::vector<net::io_context*>{});
    EXPECT_FALSE(RelayPlacement::take(none));
}

// A connected pair of sockets on `io`: (accepted, connected).
std::pair<tcp::socket, tcp::socket> socket_pair(net::io_context& io) {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    tcp::socket connected(io);
    connected.connect(acceptor.local_endpoint());
    tcp::socket accepted = acceptor.accept();
    return {std::move(accepted), std::move(connected)};
}

TEST(DbStreamMove, AMovedStreamKeepsQueuedBytesAndWorksOnItsNewContextAlone) {
    net::io_context home;
    net::io_context relay;
    auto [accepted, peer] = socket_pair(home);
    DbStream stream(std::move(accepted));
    // Bytes the kernel holds at the move (sent before it) arrive after it.
    net::write(peer, net::buffer(std::string("before the move;")));
    ASSERT_TRUE(stream.move_to(relay).ok());
    EXPECT_EQ(&net::query(stream.socket().get_executor(), net::execution::context), &relay);

    std::string got;
    bool done = false;
    net::co_spawn(
        relay,
        [&]() -> net::awaitable<void> {
            boost::system::error_code ec;
            while (got.size() < 31 && !ec) {
                char buffer[64];
                // Through the pump's own calls: try_read first, then wait for readiness.
                std::optional<std::size_t> n = stream.try_read(net::buffer(buffer), ec);
                if (!n) {
                    std::size_t waited = co_await stream.read_when_ready(net::buffer(buffer), ec);
                    n = waited;
                }
                got.append(buffer, *n);
            }
            EXPECT_FALSE(ec) << ec.message();
            co_await stream.write_all("reply", ec);
            EXPECT_FALSE(ec) << ec.message();
            done = true;
        },
        net::detached);
    relay.poll();  // reads what was queued, then waits for the rest
    net::write(peer, net::buffer(std::string("after the move.")));
    relay.run();  // only the new context runs: the old one is never needed again
    EXPECT_TRUE(done);
    EXPECT_EQ(got, "before the move;after the move.");
    std::string reply(5, '\0');
    net::read(peer, net::buffer(reply));
    EXPECT_EQ(reply, "reply");
    EXPECT_EQ(home.poll(), 0u) << "nothing of the stream ran on its old context";
}

TEST(DbStreamMove, TheEndOfTheStreamIsSeenAfterTheMove) {
    net::io_context home;
    net::io_context relay;
    auto [accepted, peer] = socket_pair(home);
    DbStream stream(std::move(accepted));
    net::write(peer, net::buffer(std::string("last")));
    peer.shutdown(tcp::socket::shutdown_send);
    ASSERT_TRUE(stream.move_to(relay).ok());
    std::string got;
    boost::system::error_code end;
    net::co_spawn(
        relay,
        [&]() -> net::awaitable<void> {
            for (;;) {
                char buffer[16];
                boost::system::error_code ec;
                const std::size_t n = co_await stream.read_some(net::buffer(buffer), ec);
                if (ec) {
                    end = ec;
                    co_return;
                }
                got.append(buffer, n);
            }
        },
        net::detached);
    relay.run();
    EXPECT_EQ(got, "last");
    EXPECT_EQ(end, net::error::eof);
}

}  // namespace
}  // namespace cloakroom::db
