// The stream limit a worker learned of an HTTP/2 upstream (proxy/h2/stream_limit.hpp) and how
// the upstream pool uses it: recorded when a connection's SETTINGS arrive (and at each update),
// kept when that connection is gone, obeyed by a new connection before its own SETTINGS and by
// the requests that ride a dial. A burst past the real limit would be refused (REFUSED_STREAM)
// and, once retried, refused again: a 502.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "http/head.hpp"
#include "proxy/h2/stream_limit.hpp"
#include "proxy/h2/upstream_connection.hpp"

namespace cloakroom::proxy::h2 {
namespace {

const std::string kKey = "upstream.example:443";

// A SETTINGS frame (RFC 9113 §6.5) carrying MAX_CONCURRENT_STREAMS = `limit`.
std::string settings_frame(std::uint32_t limit) {
    std::string f;
    f += std::string("\x00\x00\x06", 3);  // length 6: one setting
    f += '\x04';                          // SETTINGS
    f += '\x00';                          // no flags
    f += std::string(4, '\0');            // stream 0
    f += std::string("\x00\x03", 2);      // SETTINGS_MAX_CONCURRENT_STREAMS
    f += static_cast<char>(limit >> 24);
    f += static_cast<char>(limit >> 16);
    f += static_cast<char>(limit >> 8);
    f += static_cast<char>(limit);
    return f;
}

HeaderList request_head() {
    HeaderList head;
    head.add(":method", "GET");
    head.add(":scheme", "https");
    head.add(":authority", "upstream.example");
    head.add(":path", "/");
    return head;
}

class H2StreamLimit : public ::testing::Test {
  protected:
    H2StreamLimit() : context_(SSL_CTX_new(TLS_client_method())) {}
    ~H2StreamLimit() override { SSL_CTX_free(context_); }

    // An HTTP/2 connection to kKey as the pool gets it from a dial (not started: the test
    // feeds it the upstream's bytes).
    std::shared_ptr<UpstreamH2> connection() {
        auto c = std::make_unique<UpstreamConnection>(boost::asio::ip::tcp::socket(io_), context_);
        c->key = kKey;
        c->h2 = true;
        return std::make_shared<UpstreamH2>(std::move(c), limits_, std::chrono::seconds(30));
    }
    // One dial to kKey that chose HTTP/2, over: what choose_upstream does.
    std::shared_ptr<UpstreamH2> dial() {
        auto pending = pool_.start_dial(kKey, io_.get_executor());
        auto c = connection();
        pool_.add(c);
        pool_.end_dial(kKey, pending, true);
        return c;
    }
    // How many requests ride one new dial: the dialer and those join_dial admits.
    std::size_t riders_per_dial() {
        auto pending = pool_.start_dial(kKey, io_.get_executor());
        std::size_t riders = 1;
        while (riders < 1000 && pool_.join_dial(kKey)) ++riders;
        pool_.end_dial(kKey, pending, true);
        return riders;
    }

    boost::asio::io_context io_;
    SSL_CTX* context_;
    http::HeadLimits limits_;
    UpstreamH2Pool pool_;
};

TEST(H2LearnedStreamLimit, OwnSettingsFirstThenTheLearnedLimitThenTheDefault) {
    LearnedStreamLimit learned;
    EXPECT_EQ(effective_stream_limit(false, 7, nullptr), kAssumedStreamLimit);
    EXPECT_EQ(effective_stream_limit(false, 7, &learned), kAssumedStreamLimit);
    learned.learn(3, false);
    EXPECT_EQ(effective_stream_limit(false, 7, &learned), 3u);
    EXPECT_EQ(effective_stream_limit(true, 7, &learned), 7u);
    learned.learn(0, false);  // a new dial still carries its own request
    EXPECT_EQ(learned.streams, 1u);
    learned.learn(50, true);  // from a connection going away: not for the others
    EXPECT_EQ(learned.streams, 1u);
}

TEST_F(H2StreamLimit, NoRideBeforeTheUpstreamChoseHttp2) {
    auto pending = pool_.start_dial(kKey, io_.get_executor());
    EXPECT_EQ(pool_.join_dial(kKey), nullptr);
    pool_.end_dial(kKey, pending, false);
    EXPECT_EQ(pool_.learned_limit(kKey), nullptr);
    dial();
    ASSERT_NE(pool_.learned_limit(kKey), nullptr);
    EXPECT_EQ(riders_per_dial(), kAssumedStreamLimit);
}

TEST_F(H2StreamLimit, TheLimitIsRecordedWhenTheSettingsArrive) {
    auto first = dial();
    ASSERT_TRUE(first->receive(settings_frame(1)));
    EXPECT_EQ(first->stream_limit(), 1u);
    EXPECT_EQ(pool_.learned_limit(kKey)->streams, 1u);
    // No find() ran in between: the record does not wait for the pool to look.
    EXPECT_EQ(riders_per_dial(), 1u);
}

TEST_F(H2StreamLimit, TheLimitOutlivesTheConnectionThatTaughtIt) {
    {
        auto teacher = dial();
        ASSERT_TRUE(teacher->receive(settings_frame(1)));
        teacher->on_goaway(1);  // it goes away: nothing more is learned from it
    }
    EXPECT_EQ(pool_.find(kKey), nullptr);
    EXPECT_EQ(pool_.learned_limit(kKey)->streams, 1u);
    // Two requests after it: one dial each, and the new connection takes one stream only,
    // even before its own SETTINGS arrive.
    EXPECT_EQ(riders_per_dial(), 1u);
    auto next = dial();
    EXPECT_NE(next->open(request_head(), false), nullptr);
    EXPECT_EQ(next->open(request_head(), false), nullptr);
    EXPECT_EQ(pool_.find(kKey), nullptr);
}

TEST_F(H2StreamLimit, AConnectionWithoutSettingsFollowsWhatAnotherOneLearned) {
    auto early = dial();  // dialed while the limit was not known yet
    auto other = dial();
    EXPECT_EQ(early->stream_limit(), kAssumedStreamLimit);
    ASSERT_TRUE(other->receive(settings_frame(2)));
    EXPECT_EQ(early->stream_limit(), 2u);
    // And a connection without SETTINGS never puts the default back.
    EXPECT_NE(pool_.find(kKey), nullptr);
    EXPECT_EQ(pool_.learned_limit(kKey)->streams, 2u);
    EXPECT_EQ(riders_per_dial(), 2u);
}

TEST_F(H2StreamLimit, EverySettingsUpdateIsRecorded) {
    auto c = dial();
    ASSERT_TRUE(c->receive(settings_frame(1)));
    EXPECT_EQ(riders_per_dial(), 1u);
    ASSERT_TRUE(c->receive(settings_frame(4)));
    EXPECT_EQ(c->stream_limit(), 4u);
    EXPECT_EQ(riders_per_dial(), 4u);
    // A dial that chose HTTP/1.1 ends the rides, but the limit stays for the next HTTP/2 one.
    auto pending = pool_.start_dial(kKey, io_.get_executor());
    pool_.end_dial(kKey, pending, false);
    auto after = pool_.start_dial(kKey, io_.get_executor());
    EXPECT_EQ(pool_.join_dial(kKey), nullptr);
    pool_.end_dial(kKey, after, false);
    EXPECT_EQ(pool_.learned_limit(kKey)->streams, 4u);
}

}  // namespace
}  // namespace cloakroom::proxy::h2
