// The WebSocket frame reader and the server → agent redaction filter, without sockets: frames
// built here, fed whole and split at every byte, must come out with the same boundaries and
// lengths and every secret starred; framing a server must not use ends the relay with a Close.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "generated_secret.hpp"
#include "http/head.hpp"
#include "http/websocket.hpp"
#include "proxy/websocket_redaction.hpp"
#include "proxy/websocket_relay.hpp"
#include "secrets/redactor.hpp"

namespace cloakroom::proxy {
namespace {

namespace ws = http::ws;
// Made for this run: 6 + 24 hex characters, none of which is 'x' (the filler below).
const std::string kSecret = test::generated_secret("wskey");

std::string frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                  std::uint8_t rsv = 0, bool masked = false) {
    std::string out;
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv << 4) | opcode));
    const std::uint8_t mask_bit = masked ? 0x80 : 0;
    if (payload.size() < 126) {
        out.push_back(static_cast<char>(mask_bit | payload.size()));
    } else if (payload.size() <= 0xFFFF) {
        out.push_back(static_cast<char>(mask_bit | 126));
        out.push_back(static_cast<char>(payload.size() >> 8));
        out.push_back(static_cast<char>(payload.size() & 0xFF));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127));
        for (int i = 7; i >= 0; --i) {
            out.push_back(static_cast<char>((std::uint64_t{payload.size()} >> (8 * i)) & 0xFF));
        }
    }
    if (masked) out.append("\0\0\0\0", 4);  // a zero mask keeps the payload as it is
    out.append(payload);
    return out;
}

std::string stars(std::size_t n) {
    return std::string(n, '*');
}

// Feeds `input` in pieces of `step` bytes (0: whole); returns everything written.
std::string run(std::string_view input, std::size_t step, bool* stopped = nullptr) {
    const secrets::CompiledNeedles needles({kSecret});
    WebSocketRedaction filter(needles);
    std::string out;
    if (stopped != nullptr) *stopped = false;
    if (step == 0) step = input.size();
    for (std::size_t at = 0; at < input.size(); at += step) {
        if (filter.feed(input.substr(at, step), out) == runtime::PumpFilter::Verdict::Stop) {
            if (stopped != nullptr) *stopped = true;
            break;
        }
    }
    return out;
}

TEST(WebSocketRedaction, SecretsAreStarredInEveryFrameKindAtEverySplit) {
    const std::string secret(kSecret);
    const std::string text = "a " + secret + " b";
    const std::string split_message = "<<" + secret + ">>";
    std::string input;
    input += frame(ws::kText, text);
    input += frame(ws::kBinary, secret + secret);
    // A fragmented message with the secret across three fragments and a ping between two.
    input += frame(ws::kText, split_message.substr(0, 7), false);
    input += frame(ws::kContinuation, split_message.substr(7, 5), false);
    input += frame(ws::kPing, "p " + secret);
    input += frame(ws::kContinuation, split_message.substr(12), true);
    input += frame(ws::kClose, std::string("\x03\xe8", 2) + secret);

    std::string expected;
    expected += frame(ws::kText, "a " + stars(secret.size()) + " b");
    expected += frame(ws::kBinary, stars(2 * secret.size()));
    const std::string starred_split = "<<" + stars(secret.size()) + ">>";
    expected += frame(ws::kText, starred_split.substr(0, 7), false);
    expected += frame(ws::kContinuation, starred_split.substr(7, 5), false);
    // The ping waits until the fragment before it is released (its tail could be a secret's).
    expected += frame(ws::kPing, "p " + stars(secret.size()));
    expected += frame(ws::kContinuation, starred_split.substr(12), true);
    expected += frame(ws::kClose, std::string("\x03\xe8", 2) + stars(secret.size()));

    for (std::size_t step = 0; step <= input.size(); ++step) {
        bool stopped = true;
        const std::string out = run(input, step, &stopped);
        ASSERT_FALSE(stopped) << "step " << step;
        ASSERT_EQ(out, expected) << "step " << step;
    }
}

TEST(WebSocketRedaction, LongFramesKeepTheirLengthEncodings) {
    const std::string secret(kSecret);
    for (const std::size_t size : {125u, 126u, 65535u, 65536u, 200000u}) {
        std::string payload(size, 'x');
        payload.replace(size / 2, secret.size(), secret);
        std::string expected_payload = payload;
        expected_payload.replace(size / 2, secret.size(), stars(secret.size()));
        const std::string out = run(frame(ws::kBinary, payload), 4096);
        EXPECT_EQ(out, frame(ws::kBinary, expected_payload)) << size;
    }
}

TEST(WebSocketRedaction, FramingAServerMustNotUseEndsTheRelayWithAClose) {
    const std::string secret(kSecret);
    struct Case {
        const char* what;
        std::string bytes;
    };
    const std::vector<Case> cases = {
        {"masked", frame(ws::kText, secret, true, 0, true)},
        {"rsv1 (no extension negotiated)", frame(ws::kText, secret, true, 4)},
        {"reserved opcode", frame(0x3, "x")},
        {"fragmented control frame", frame(ws::kPing, "x", false)},
        {"non-minimal length", std::string("\x82\x7e\x00\x05hello", 9)},
        {"64-bit length with the top bit", std::string("\x82\x7f\x80\0\0\0\0\0\0\0", 10)},
    };
    for (const auto& c : cases) {
        // A good frame before the bad one still goes out; nothing of the bad one does.
        const std::string input = frame(ws::kText, "fine") + c.bytes;
        for (std::size_t step = 1; step <= input.size(); ++step) {
            bool stopped = false;
            const std::string out = run(input, step, &stopped);
            EXPECT_TRUE(stopped) << c.what << " step " << step;
            const std::string close =
                websocket_close_frame(1002, "Cloakroom: the server broke the WebSocket framing");
            EXPECT_EQ(out, frame(ws::kText, "fine") + close) << c.what << " step " << step;
            EXPECT_EQ(out.find(secret), std::string::npos) << c.what;
        }
    }
}

TEST(WebSocketHandshake, RecognizesOnlyACompleteUpgradeRequest) {
    const auto parse = [](std::string text) {
        http::Head head;
        EXPECT_TRUE(head.parse_request(text)) << text;
        return http::is_websocket_upgrade(head);
    };
    const std::string base =
        "GET /chat HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    EXPECT_TRUE(parse(base + "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n"));
    EXPECT_TRUE(parse(base + "Upgrade: WebSocket\r\nConnection: upgrade\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n"));
    EXPECT_FALSE(parse(base + "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"))
        << "Connection must list upgrade";
    EXPECT_FALSE(parse(base + "Upgrade: h2c\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n"));
    EXPECT_FALSE(parse(base + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Version: 8\r\n\r\n"));
    EXPECT_FALSE(
        parse("POST /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: "
              "Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    // RFC 6455 §1.3's example.
    EXPECT_EQ(http::websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

// Which 101 answers are relayed. With an expected accept value (the gateway made the key, for an
// HTTP/2 agent's extended CONNECT), the answer must carry exactly that value.
TEST(WebSocketHandshake, AnswerProblems) {
    const auto problem = [](std::string fields, std::string_view expected_accept = {}) {
        http::Head head;
        const std::string text = "HTTP/1.1 101 Switching Protocols\r\n" + fields + "\r\n";
        EXPECT_TRUE(head.parse_response(text)) << text;
        return websocket_answer_problem(head, expected_accept).has_value();
    };
    const std::string upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    const std::string accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    EXPECT_FALSE(problem(upgrade + accept));
    EXPECT_FALSE(problem(upgrade));  // an HTTP/1.1 agent checks the accept itself
    EXPECT_TRUE(problem("Upgrade: h2c\r\nConnection: Upgrade\r\n"));
    EXPECT_TRUE(problem(upgrade + accept + "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
    EXPECT_FALSE(problem(upgrade + accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    EXPECT_TRUE(problem(upgrade, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    EXPECT_TRUE(problem(upgrade + "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
                        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

}  // namespace
}  // namespace cloakroom::proxy
