// The live-session registry revocation will use: ending a token's sessions runs exactly their
// closers, on their own executors, and never the closer of a session that already ended.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>

#include "runtime/session_registry.hpp"

namespace cloakroom::runtime {
namespace {

TEST(SessionRegistry, EndsOnlyTheSessionsOfTheToken) {
    auto registry = std::make_shared<SessionRegistry>();
    boost::asio::io_context io;
    int closed_a1 = 0, closed_a2 = 0, closed_b = 0;
    auto a1 = registry->add("http", "tok-a", io.get_executor(), [&] { ++closed_a1; });
    auto a2 = registry->add("database", "tok-a", io.get_executor(), [&] { ++closed_a2; });
    auto b = registry->add("database", "tok-b", io.get_executor(), [&] { ++closed_b; });
    EXPECT_EQ(registry->live(), 3u);
    EXPECT_EQ(registry->live("database"), 2u);

    EXPECT_EQ(registry->end_sessions("tok-a"), 2u);
    EXPECT_EQ(closed_a1 + closed_a2, 0) << "closers run on the session's executor, not here";
    io.run();
    EXPECT_EQ(closed_a1, 1);
    EXPECT_EQ(closed_a2, 1);
    EXPECT_EQ(closed_b, 0);
    EXPECT_EQ(registry->end_sessions(""), 0u) << "no token id matches sessions without a token";
}

TEST(SessionRegistry, ASessionThatEndedFirstIsNotClosedAgain) {
    auto registry = std::make_shared<SessionRegistry>();
    boost::asio::io_context io;
    int closed = 0;
    auto registration = registry->add("http", "tok", io.get_executor(), [&] { ++closed; });
    EXPECT_EQ(registry->end_sessions("tok"), 1u);
    registration.reset();  // the session ends on its own before the closer runs
    io.run();
    EXPECT_EQ(closed, 0);
    EXPECT_EQ(registry->live(), 0u);
}

TEST(SessionRegistry, ClosersRunOnTheirOwnThreads) {
    auto registry = std::make_shared<SessionRegistry>();
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::thread::id ran_on;
    std::thread worker([&] { io.run(); });
    auto registration = registry->add("database", "tok", io.get_executor(), [&] {
        ran_on = std::this_thread::get_id();
        guard.reset();
    });
    const std::thread::id worker_id = worker.get_id();
    EXPECT_EQ(registry->end_sessions("tok"), 1u);
    worker.join();
    EXPECT_EQ(ran_on, worker_id);
    EXPECT_NE(ran_on, std::this_thread::get_id());
}

// A database session moves to a relay thread after its login (db/relay_placement.hpp): its
// closer must run where the session runs now, also when it was posted before the move.
TEST(SessionRegistry, AClosePostedBeforeAMoveFollowsTheSession) {
    auto registry = std::make_shared<SessionRegistry>();
    boost::asio::io_context home;
    boost::asio::io_context relay;
    int closed = 0;
    auto registration = registry->add("database", "tok", home.get_executor(), [&] { ++closed; });
    EXPECT_EQ(registry->end_sessions("tok"), 1u);  // posted to `home`
    registration->move_to(relay.get_executor());
    home.run();
    EXPECT_EQ(closed, 0) << "the session no longer runs on its old executor";
    relay.run();
    EXPECT_EQ(closed, 1);
}

TEST(SessionRegistry, AClosePostedAfterAMoveRunsOnTheNewExecutorAndComesBackWithIt) {
    auto registry = std::make_shared<SessionRegistry>();
    boost::asio::io_context home;
    boost::asio::io_context relay;
    int closed = 0;
    auto registration = registry->add("database", "tok", home.get_executor(), [&] { ++closed; });
    registration->move_to(relay.get_executor());
    EXPECT_EQ(registry->end_sessions("tok"), 1u);
    home.run();
    EXPECT_EQ(closed, 0);
    relay.run();
    EXPECT_EQ(closed, 1);

    // Back home (the relay ended): a close posted to the relay thread goes home.
    EXPECT_EQ(registry->end_sessions("tok"), 1u);
    registration->move_to(home.get_executor());
    relay.restart();
    relay.run();
    EXPECT_EQ(closed, 1);
    home.restart();
    home.run();
    EXPECT_EQ(closed, 2);
}

}  // namespace
}  // namespace cloakroom::runtime
