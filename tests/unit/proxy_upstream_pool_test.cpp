// UpstreamPool: which idle upstream connection a request gets, and how many are kept. Real
// loopback sockets (the liveness peek reads them); no TLS handshake is needed for the pool.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/upstream.hpp"
#include "stream_test_support.hpp"

namespace cloakroom::proxy {
namespace {

using namespace testing_support;

class UpstreamPoolTest : public StreamTest {
  protected:
    // A pooled-connection stand-in with a live peer; `tag` tells them apart.
    std::unique_ptr<UpstreamConnection> connection(const std::string& key, std::string tag) {
        auto [client, server] = connect();
        peers_.push_back(std::move(server));
        auto made = std::make_unique<UpstreamConnection>(std::move(client), client_ctx_.get());
        made->key = key;
        made->address = std::move(tag);
        return made;
    }
    std::vector<tcp::socket> peers_;
};

TEST_F(UpstreamPoolTest, MostRecentFirstPerKey) {
    UpstreamPool pool;
    pool.put(connection("a:443", "a1"));
    pool.put(connection("a:443", "a2"));
    pool.put(connection("b:443", "b1"));
    auto first = pool.take("a:443");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->address, "a2");
    EXPECT_TRUE(first->reused);
    EXPECT_EQ(pool.take("a:443")->address, "a1");
    EXPECT_EQ(pool.take("a:443"), nullptr);
    EXPECT_EQ(pool.take("c:443"), nullptr);
    EXPECT_EQ(pool.take("b:443")->address, "b1");
}

TEST_F(UpstreamPoolTest, KeepsUpToTheLimitAndDropsTheOldest) {
    UpstreamPool pool(UpstreamPool::Limits{.max_idle_per_key = 3, .warm_per_key = 1});
    for (int i = 1; i <= 5; ++i) pool.put(connection("a:443", "a" + std::to_string(i)));
    EXPECT_EQ(pool.idle_count("a:443"), 3u);
    EXPECT_EQ(pool.take("a:443")->address, "a5");
    EXPECT_EQ(pool.take("a:443")->address, "a4");
    EXPECT_EQ(pool.take("a:443")->address, "a3");
    EXPECT_EQ(pool.take("a:443"), nullptr);
}

TEST_F(UpstreamPoolTest, TheDefaultLimitCoversABurstOf64) {
    // The bench's keep-alive shape: 64 agent connections to one host. A pool that held fewer
    // than a worker's share closed connections after every burst and dialed them again.
    UpstreamPool pool;
    for (int i = 0; i < 64; ++i) pool.put(connection("a:443", std::to_string(i)));
    EXPECT_EQ(pool.idle_count("a:443"), 64u);
}

TEST_F(UpstreamPoolTest, ExpiredConnectionsAreDroppedNotHandedOut) {
    UpstreamPool pool(UpstreamPool::Limits{.max_idle = std::chrono::seconds(0)});
    pool.put(connection("a:443", "old"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(pool.take("a:443"), nullptr);
    pool.put(connection("a:443", "x"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    pool.put(connection("a:443", "y"));  // sweeps "x" from the front
    EXPECT_EQ(pool.idle_count("a:443"), 1u);
}

TEST_F(UpstreamPoolTest, AConnectionWithUnreadBytesIsNotPooled) {
    // An upstream that sent more than one response's worth: the extra bytes would become the
    // next request's response (response desync across requests, and across agents).
    UpstreamPool pool;
    auto extra = connection("a:443", "extra");
    const std::string_view stray = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    auto space = extra->buffer.prepare(stray.size());
    std::memcpy(space.data(), stray.data(), stray.size());
    extra->buffer.commit(stray.size());
    pool.put(std::move(extra));
    EXPECT_EQ(pool.idle_count("a:443"), 0u);
    EXPECT_EQ(pool.take("a:443"), nullptr);
}

TEST_F(UpstreamPoolTest, AConnectionTheServerClosedIsNotReused) {
    // Past probe_after, a pooled connection is peeked: EOF means the server closed it.
    UpstreamPool pool(UpstreamPool::Limits{.probe_after = std::chrono::seconds(0)});
    pool.put(connection("a:443", "alive"));
    pool.put(connection("a:443", "closed"));
    peers_.back().close();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto taken = pool.take("a:443");
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->address, "alive");
}

}  // namespace
}  // namespace cloakroom::proxy
