// The HTTP/2 server session (proxy/h2/session.hpp) without sockets: frames in, frames out. The
// limits against the known attacks end the session with GOAWAY ENHANCE_YOUR_CALM just past their
// budget and not before; a request's events reach the handler.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/h2/session.hpp"

namespace cloakroom::proxy::h2 {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
    std::string out;
    const auto length = static_cast<std::uint32_t>(payload.size());
    out += static_cast<char>((length >> 16) & 0xff);
    out += static_cast<char>((length >> 8) & 0xff);
    out += static_cast<char>(length & 0xff);
    out += static_cast<char>(type);
    out += static_cast<char>(flags);
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((stream >> shift) & 0xff);
    out += payload;
    return out;
}

constexpr std::uint8_t kHeaders = 0x1, kRst = 0x3, kSettings = 0x4, kPing = 0x6, kGoaway = 0x7,
                       kContinuation = 0x9;
constexpr std::uint8_t kEndStream = 0x1, kEndHeaders = 0x4;

// "a: x" in HPACK (literal, not indexed), for CONTINUATION frames.
const std::string kFieldAX = std::string("\x00\x01", 2) + "a" + std::string("\x01", 1) + "x";

// GET https://api.example.com/ in HPACK: static-table indexes, :authority without indexing.
std::string request_block() {
    std::string block("\x82\x87\x84\x01\x0f", 5);
    return block + "api.example.com";
}

struct Recorder final : SessionHandler {
    std::vector<std::string> events;
    void on_request_begin(std::int32_t id) override {
        events.push_back("begin " + std::to_string(id));
    }
    void on_request_field(std::int32_t, std::string_view name, std::string_view value) override {
        events.push_back(std::string(name) + "=" + std::string(value));
    }
    void on_request_headers(std::int32_t id, bool end_stream) override {
        events.push_back("headers " + std::to_string(id) + (end_stream ? " end" : ""));
    }
    void on_request_trailer(std::int32_t, std::string_view name, std::string_view value) override {
        events.push_back("trailer " + std::string(name) + "=" + std::string(value));
    }
    void on_request_data(std::int32_t, std::string_view data) override {
        events.push_back("data " + std::string(data));
    }
    void on_request_end(std::int32_t id) override { events.push_back("end " + std::to_string(id)); }
    void on_stream_close(std::int32_t id, std::uint32_t) override {
        events.push_back("close " + std::to_string(id));
    }
    long read_response(std::int32_t, std::uint8_t*, std::size_t, bool& eof, bool&) override {
        eof = true;
        return 0;
    }
};

struct Out {
    int pings_acked = 0;
    std::optional<std::uint32_t> goaway;
};

Out drain(ServerSession& session) {
    std::string bytes;
    for (auto chunk = session.next_output(); !chunk.empty(); chunk = session.next_output()) {
        bytes.append(chunk);
    }
    Out out;
    std::size_t at = 0;
    while (at + 9 <= bytes.size()) {
        const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[at + i]); };
        const std::size_t length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        if (byte(3) == kPing && (byte(4) & 0x1) != 0) ++out.pings_acked;
        if (byte(3) == kGoaway && length >= 8) {
            out.goaway = (static_cast<std::uint32_t>(byte(13)) << 24) | (byte(14) << 16) |
                         (byte(15) << 8) | byte(16);
        }
        at += 9 + length;
    }
    return out;
}

class H2Session : public ::testing::Test {
  protected:
    H2Session() : session_(recorder_, limits_) {
        EXPECT_TRUE(session_.ok());
        std::string start(kPreface);
        start += frame(kSettings, 0, 0, "");
        EXPECT_TRUE(session_.receive(start));
        drain(session_);
    }
    http::HeadLimits limits_;
    Recorder recorder_;
    ServerSession session_;
};

TEST_F(H2Session, RequestEventsReachTheHandler) {
    ASSERT_TRUE(session_.receive(frame(kHeaders, kEndHeaders, 1, request_block()) +
                                 frame(0x0, kEndStream, 1, "hi")));
    EXPECT_EQ(recorder_.events, (std::vector<std::string>{"begin 1", ":method=GET", ":scheme=https",
                                                          ":path=/", ":authority=api.example.com",
                                                          "headers 1", "data hi", "end 1"}));
}

// Request trailers (a HEADERS block after DATA, with END_STREAM) reach the handler as trailers,
// not as fields of a new head.
TEST_F(H2Session, RequestTrailersReachTheHandler) {
    // "grpc-x: 1" literal without indexing.
    const std::string trailer =
        std::string("\x00\x06", 2) + "grpc-x" + std::string("\x01", 1) + "1";
    ASSERT_TRUE(session_.receive(frame(kHeaders, kEndHeaders, 1, request_block()) +
                                 frame(0x0, 0, 1, "hi") +
                                 frame(kHeaders, kEndHeaders | kEndStream, 1, trailer)));
    EXPECT_EQ(recorder_.events,
              (std::vector<std::string>{"begin 1", ":method=GET", ":scheme=https", ":path=/",
                                        ":authority=api.example.com", "headers 1", "data hi",
                                        "trailer grpc-x=1", "end 1"}));
}

// Each budget: at the limit the session goes on, one frame past it the session ends with
// GOAWAY ENHANCE_YOUR_CALM.
TEST_F(H2Session, PingBudget) {
    std::string pings;
    for (int i = 0; i < kMaxPingsPerSecond; ++i) pings += frame(kPing, 0, 0, "12345678");
    ASSERT_TRUE(session_.receive(pings));
    Out out = drain(session_);
    EXPECT_EQ(out.pings_acked, kMaxPingsPerSecond);
    EXPECT_FALSE(out.goaway);
    EXPECT_FALSE(session_.receive(frame(kPing, 0, 0, "12345678")));
    EXPECT_EQ(drain(session_).goaway, NGHTTP2_ENHANCE_YOUR_CALM);
    EXPECT_FALSE(session_.wants_read());
}

TEST_F(H2Session, SettingsBudget) {
    std::string settings;
    // The preface's SETTINGS counted one already.
    for (int i = 1; i < kMaxSettingsPerSecond; ++i) settings += frame(kSettings, 0, 0, "");
    ASSERT_TRUE(session_.receive(settings));
    EXPECT_FALSE(drain(session_).goaway);
    EXPECT_FALSE(session_.receive(frame(kSettings, 0, 0, "")));
    EXPECT_EQ(drain(session_).goaway, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(H2Session, RapidResetBudget) {
    const std::string cancel("\0\0\0\x8", 4);
    std::string burst;
    std::uint32_t id = 1;
    for (int i = 0; i < kMaxResetsPerSecond; ++i, id += 2) {
        burst += frame(kHeaders, kEndHeaders | kEndStream, id, request_block());
        burst += frame(kRst, 0, id, cancel);
    }
    ASSERT_TRUE(session_.receive(burst));
    EXPECT_FALSE(drain(session_).goaway);
    EXPECT_FALSE(session_.receive(frame(kHeaders, kEndHeaders | kEndStream, id, request_block()) +
                                  frame(kRst, 0, id, cancel)));
    EXPECT_EQ(drain(session_).goaway, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(H2Session, ContinuationRunIsCutAfterEight) {
    std::string run = frame(kHeaders, 0, 1, request_block());
    for (int i = 0; i < 9; ++i) run += frame(kContinuation, 0, 1, kFieldAX);
    EXPECT_FALSE(session_.receive(run));
    EXPECT_EQ(drain(session_).goaway, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(H2Session, EightContinuationsAreFine) {
    std::string run = frame(kHeaders, 0, 1, request_block());
    for (int i = 0; i < 7; ++i) run += frame(kContinuation, 0, 1, kFieldAX);
    run += frame(kContinuation, kEndHeaders, 1, kFieldAX);
    EXPECT_TRUE(session_.receive(run));
    EXPECT_FALSE(drain(session_).goaway);
    EXPECT_EQ(recorder_.events.back(), "headers 1");
}

}  // namespace
}  // namespace cloakroom::proxy::h2
