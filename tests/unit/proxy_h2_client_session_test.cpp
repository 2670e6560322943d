// The upstream HTTP/2 client session (proxy/h2/client_session.hpp) against the gateway's own
// server session, in memory: a request with a body and trailers, a response with trailers,
// and the response window that only opens as the consumer takes bytes. Plus the pure
// translations of upstream_connection.hpp (request header list, response head, trailers).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/head.hpp"
#include "proxy/h2/client_session.hpp"
#include "proxy/h2/session.hpp"
#include "proxy/h2/upstream_connection.hpp"

namespace cloakroom::proxy::h2 {
namespace {

struct Server final : SessionHandler {
    std::vector<std::string> events;
    std::string body;
    std::string response_body;
    std::size_t sent = 0;
    bool send_trailers = true;
    ServerSession* session = nullptr;

    void on_request_begin(std::int32_t) override {}
    void on_request_field(std::int32_t, std::string_view name, std::string_view value) override {
        events.push_back(std::string(name) + "=" + std::string(value));
    }
    void on_request_trailer(std::int32_t, std::string_view name, std::string_view value) override {
        events.push_back("trailer " + std::string(name) + "=" + std::string(value));
    }
    void on_request_headers(std::int32_t, bool end_stream) override {
        events.push_back(end_stream ? "headers end" : "headers");
    }
    void on_request_data(std::int32_t id, std::string_view data) override {
        body.append(data);
        session->consumed(id, data.size());
    }
    void on_request_end(std::int32_t) override { events.push_back("end"); }
    void on_stream_close(std::int32_t, std::uint32_t) override {}
    long read_response(std::int32_t id, std::uint8_t* out, std::size_t length, bool& eof,
                       bool& trailers) override {
        const std::size_t n = std::min(length, response_body.size() - sent);
        std::memcpy(out, response_body.data() + sent, n);
        sent += n;
        if (sent == response_body.size()) {
            eof = true;
            if (send_trailers) {
                trailers = true;
                HeaderList list;
                list.add("grpc-status", "7");
                list.add("grpc-message", "no");
                session->submit_trailers(id, list);
            }
        }
        return static_cast<long>(n);
    }
};

struct Client final : ClientHandler {
    std::vector<std::string> events;
    std::string body;
    std::string request_body;
    std::size_t sent = 0;
    FieldList trailers;
    void on_field(std::int32_t, std::string_view name, std::string_view value) override {
        events.push_back(std::string(name) + "=" + std::string(value));
    }
    void on_headers_end(std::int32_t, bool end_stream) override {
        events.push_back(end_stream ? "headers end" : "headers");
    }
    void on_data(std::int32_t, std::string_view data) override { body.append(data); }
    void on_end(std::int32_t) override { events.push_back("end"); }
    void on_stream_close(std::int32_t, std::uint32_t) override { events.push_back("close"); }
    void on_goaway(std::int32_t) override { events.push_back("goaway"); }
    long read_request(std::int32_t id, std::uint8_t* out, std::size_t length, bool& eof,
                      bool& with_trailers) override {
        const std::size_t n = std::min(length, request_body.size() - sent);
        std::memcpy(out, request_body.data() + sent, n);
        sent += n;
        if (sent == request_body.size()) {
            eof = true;
            if (!trailers.empty()) {
                with_trailers = true;
                HeaderList list;
                list.fields(trailers);
                session->submit_trailers(id, list);
            }
        }
        return static_cast<long>(n);
    }
    ClientSession* session = nullptr;
};

// Moves bytes both ways until neither side has anything to say.
void pump(ClientSession& client, ServerSession& server) {
    for (int round = 0; round < 1000; ++round) {
        std::string to_server;
        for (auto c = client.next_output(); !c.empty(); c = client.next_output()) to_server += c;
        std::string to_client;
        if (!to_server.empty()) {
            ASSERT_TRUE(server.receive(to_server));
        }
        for (auto c = server.next_output(); !c.empty(); c = server.next_output()) to_client += c;
        if (!to_client.empty()) {
            ASSERT_TRUE(client.receive(to_client));
        }
        if (to_server.empty() && to_client.empty()) return;
    }
    FAIL() << "the sessions never went quiet";
}

HeaderList request_head() {
    HeaderList head;
    head.add(":method", "POST");
    head.add(":scheme", "https");
    head.add(":authority", "grpc.example.com");
    head.add(":path", "/test.Echo/Unary");
    head.add("te", "trailers");
    return head;
}

class H2ClientSession : public ::testing::Test {
  protected:
    H2ClientSession() : server_session_(server_, limits_), client_session_(client_, limits_) {
        server_.session = &server_session_;
        client_.session = &client_session_;
    }
    http::HeadLimits limits_;
    Server server_;
    Client client_;
    ServerSession server_session_;
    ClientSession client_session_;
};

TEST_F(H2ClientSession, TrailersPassBothWays) {
    client_.request_body = "request bytes";
    client_.trailers = {{"x-checksum", "abc"}};
    const std::int32_t id = client_session_.submit_request(request_head(), true);
    ASSERT_GT(id, 0);
    pump(client_session_, server_session_);
    EXPECT_EQ(server_.body, "request bytes");
    EXPECT_EQ(server_.events, (std::vector<std::string>{
                                  ":method=POST", ":scheme=https", ":authority=grpc.example.com",
                                  ":path=/test.Echo/Unary", "te=trailers", "headers",
                                  "trailer x-checksum=abc", "end"}));

    server_.response_body = "response bytes";
    HeaderList head;
    head.add(":status", "200");
    head.add("content-type", "application/grpc");
    ASSERT_TRUE(server_session_.submit_response(id, head, true));
    pump(client_session_, server_session_);
    EXPECT_EQ(client_.body, "response bytes");
    // The head, then the trailers as a second block that ends the stream.
    EXPECT_EQ(client_.events, (std::vector<std::string>{
                                  ":status=200", "content-type=application/grpc", "headers",
                                  "grpc-status=7", "grpc-message=no", "headers end", "close"}));
}

TEST_F(H2ClientSession, ResponseWindowOpensOnlyAsTheConsumerTakesBytes) {
    const std::int32_t id = client_session_.submit_request(request_head(), false);
    pump(client_session_, server_session_);
    server_.send_trailers = false;
    server_.response_body.assign(3 * kUpstreamStreamWindow, 'r');
    HeaderList head;
    head.add(":status", "200");
    ASSERT_TRUE(server_session_.submit_response(id, head, true));
    pump(client_session_, server_session_);
    // Nothing consumed: the stream's window is all the upstream may send.
    EXPECT_EQ(client_.body.size(), static_cast<std::size_t>(kUpstreamStreamWindow));
    client_session_.consumed(id, client_.body.size());
    pump(client_session_, server_session_);
    EXPECT_EQ(client_.body.size(), static_cast<std::size_t>(2 * kUpstreamStreamWindow));
    client_session_.consumed(id, kUpstreamStreamWindow);
    client_session_.consumed(id, kUpstreamStreamWindow);
    pump(client_session_, server_session_);
    EXPECT_EQ(client_.body.size(), server_.response_body.size());
    EXPECT_EQ(client_.events.back(), "close");
}

TEST(H2UpstreamTranslation, RequestHeaderListHasPseudoHeadersAndNoConnectionFields) {
    http::Head request;
    const std::string text =
        "POST /v1/x?y=1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: keep-alive\r\n"
        "Transfer-Encoding: chunked\r\nAuthorization: Bearer real\r\nContent-Type: a/b\r\n\r\n";
    ASSERT_TRUE(request.parse_request(text));
    for (const bool te : {false, true}) {
        const HeaderList list = request_header_list(request, te);
        std::vector<std::string> got;
        for (const nghttp2_nv& nv : list.entries()) {
            got.push_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen) + "=" +
                          std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
        }
        std::vector<std::string> want{":method=POST",
                                      ":scheme=https",
                                      ":authority=api.example.com",
                                      ":path=/v1/x?y=1",
                                      "authorization=Bearer real",
                                      "content-type=a/b"};
        if (te) want.push_back("te=trailers");
        EXPECT_EQ(got, want);
    }
}

// RFC 8441 §5: the opening handshake becomes an extended CONNECT; the HTTP/1.1 handshake's own
// fields (Upgrade, Connection, the key: HTTP/2 has none) stay behind, the injected credential and
// the version go.
TEST(H2UpstreamTranslation, WebSocketHandshakeBecomesAnExtendedConnect) {
    http::Head request;
    const std::string text =
        "GET /chat?room=1 HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n"
        "Authorization: Bearer real\r\nOrigin: https://a.example\r\n\r\n";
    ASSERT_TRUE(request.parse_request(text));
    const HeaderList list = websocket_connect_header_list(request);
    std::vector<std::string> got;
    for (const nghttp2_nv& nv : list.entries()) {
        got.push_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen) + "=" +
                      std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    const std::vector<std::string> want{":method=CONNECT",
                                        ":protocol=websocket",
                                        ":scheme=https",
                                        ":authority=ws.example.com",
                                        ":path=/chat?room=1",
                                        "sec-websocket-version=13",
                                        "sec-websocket-protocol=chat",
                                        "authorization=Bearer real",
                                        "origin=https://a.example"};
    EXPECT_EQ(got, want);
}

TEST(H2UpstreamTranslation, ResponseHeadIsValidatedLikeAnHttp1Head) {
    std::string text;
    EXPECT_EQ(response_head_text(200, {{":status", "200"}, {"content-length", "3"}}, {}, text),
              std::nullopt);
    http::Head head;
    ASSERT_TRUE(head.parse_response(text));
    EXPECT_EQ(head.status(), 200u);
    EXPECT_EQ(head["Content-Length"], "3");
    // No final status, and a head the HTTP/1.1 validator refuses (two content-lengths).
    EXPECT_NE(response_head_text(0, {}, {}, text), std::nullopt);
    EXPECT_NE(response_head_text(200, {{"content-length", "3"}, {"content-length", "4"}}, {}, text),
              std::nullopt);
}

TEST(H2UpstreamTranslation, TrailersThatFrameRouteOrAuthenticateAreLeftOut) {
    const FieldList in{{"grpc-status", "0"},     {":status", "200"},
                       {"content-length", "9"},  {"transfer-encoding", "x"},
                       {"host", "evil.example"}, {"authorization", "t"},
                       {"connection", "close"},  {"x-sum", "1"}};
    EXPECT_EQ(forwardable_trailers(in), (FieldList{{"grpc-status", "0"}, {"x-sum", "1"}}));
}

// RFC 9113 §8.7: only a stream the upstream refused unprocessed is sent again, once, and only
// while the body that went out is held; every other way a head can be missing is answered.
TEST(H2RefusedStream, RetriedOnceOnlyWhenRefusedUnprocessedAndTheBodyIsHeld) {
    boost::asio::io_context io;
    UpstreamStream stream(io.get_executor());
    stream.closed = true;
    stream.error_code = NGHTTP2_REFUSED_STREAM;
    ASSERT_TRUE(stream.refused());
    EXPECT_FALSE(missing_head_outcome(stream, false, true, 0).has_value());

    const auto again = missing_head_outcome(stream, false, true, kRefusedStreamRetries);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->status, 502u);
    EXPECT_EQ(again->error, "upstream_refused_stream");
    EXPECT_NE(again->reason.find("again"), std::string::npos) << again->reason;

    const auto lost = missing_head_outcome(stream, false, false, 0);
    ASSERT_TRUE(lost.has_value());
    EXPECT_EQ(lost->error, "upstream_refused_stream");
    EXPECT_NE(lost->reason.find("64 KiB"), std::string::npos) << lost->reason;

    // Any other reset, a timeout, a head past the limits: answered, never retried.
    stream.error_code = NGHTTP2_CANCEL;
    EXPECT_FALSE(stream.refused());
    EXPECT_EQ(missing_head_outcome(stream, false, true, 0)->error, "upstream_unreachable");
    stream.error_code = NGHTTP2_INTERNAL_ERROR;
    EXPECT_EQ(missing_head_outcome(stream, false, true, 0)->error, "upstream_unreachable");
    stream.error_code = NGHTTP2_REFUSED_STREAM;
    EXPECT_EQ(missing_head_outcome(stream, true, true, 0)->status, 504u);
    stream.too_large = true;
    EXPECT_EQ(missing_head_outcome(stream, false, true, 0)->error, "upstream_bad_response");
    stream.too_large = false;
    // A refusal after the head arrived is not "unprocessed": the response has begun.
    stream.head_ready = true;
    EXPECT_FALSE(stream.refused());
    EXPECT_EQ(missing_head_outcome(stream, false, true, 0)->error, "upstream_unreachable");
}

// Drains `outbox` as nghttp2 would, in frames of `frame` bytes; the bytes taken.
std::string drain(RequestOutbox& outbox, std::size_t frame) {
    std::string sent;
    std::vector<std::uint8_t> buffer(frame);
    while (!outbox.all_sent()) {
        const std::size_t n = outbox.take(buffer.data(), buffer.size());
        sent.append(reinterpret_cast<const char*>(buffer.data()), n);
    }
    return sent;
}

TEST(H2RefusedStream, OutboxKeepsTheSentBodyUpToTheLimitThenNothing) {
    RequestOutbox outbox;
    outbox.keep_sent();
    EXPECT_TRUE(outbox.holds_whole_body());
    const std::string first(kRequestReplayLimit - 10, 'a');
    outbox.append(first);
    EXPECT_EQ(drain(outbox, 16384), first);  // sent, and still kept
    outbox.append("0123456789");
    EXPECT_EQ(outbox.unsent(), 10u);
    EXPECT_EQ(drain(outbox, 3), "0123456789");
    EXPECT_TRUE(outbox.holds_whole_body());
    ReplayableBody replay;
    boost::asio::io_context io;
    UpstreamStream stream(io.get_executor());
    stream.outbox.keep_sent();
    stream.outbox.append(first);
    drain(stream.outbox, 1000);
    stream.outbox.append("0123456789");  // appended, not sent (the stream was refused)
    replay.take(stream);
    EXPECT_EQ(replay.held(), first + "0123456789");
    EXPECT_FALSE(stream.outbox.holds_whole_body());
    EXPECT_FALSE(replay.complete());
    replay.mark_complete();
    EXPECT_TRUE(replay.complete());

    // One byte past the limit: the sent bytes go, the unsent ones stay.
    outbox.append("x");
    EXPECT_FALSE(outbox.holds_whole_body());
    EXPECT_EQ(outbox.unsent(), 1u);
    EXPECT_EQ(drain(outbox, 16384), "x");
    outbox.append("y");
    EXPECT_FALSE(outbox.holds_whole_body());
    EXPECT_EQ(outbox.release_body(), "");
}

TEST(H2RefusedStream, OutboxWithoutKeepingHoldsOnlyWhatIsUnsent) {
    RequestOutbox outbox;  // a WebSocket's: never sent again
    EXPECT_FALSE(outbox.holds_whole_body());
    outbox.append("abcdef");
    EXPECT_EQ(drain(outbox, 4), "abcdef");
    outbox.append("gh");
    EXPECT_EQ(outbox.unsent(), 2u);
    EXPECT_EQ(drain(outbox, 4), "gh");
    // keep_sent() after bytes went in would keep a body without its start: refused.
    RequestOutbox late;
    late.append("z");
    late.keep_sent();
    EXPECT_FALSE(late.holds_whole_body());
}

TEST(H2RefusedStream, AnAnsweredRetryIsNamedInTheAuditReason) {
    EXPECT_EQ(retried_reason("rule r1", 0), "rule r1");
    EXPECT_NE(retried_reason("rule r1", 1).find("rule r1; sent again"), std::string::npos);
    EXPECT_EQ(retried_reason("", 1).rfind("sent again", 0), 0u);
}

}  // namespace
}  // namespace cloakroom::proxy::h2
