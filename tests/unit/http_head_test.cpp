// http::Head: the proxy's own parse of a validated head, its edits and its output; and
// ChunkFrame, the chunked coding it writes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/chunk_frame.hpp"
#include "http/head.hpp"

namespace cloakroom::http {
namespace {

std::string fields_of(const Head& head) {
    std::string out;
    for (const HeadField& field : head.fields()) {
        out += std::string(field.name) + "=" + std::string(field.value) + ";";
    }
    return out;
}

TEST(HttpHead, ParsesARequest) {
    Head head;
    ASSERT_TRUE(
        head.parse_request("GET /v1/x?a=1 HTTP/1.1\r\nHost: api.example.com\r\nX-Empty:\r\n"
                           "Authorization:  Bearer t \t\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n"));
    EXPECT_EQ(head.method(), "GET");
    EXPECT_EQ(head.target(), "/v1/x?a=1");
    EXPECT_EQ(head.minor_version(), 1u);
    EXPECT_EQ(fields_of(head),
              "Host=api.example.com;X-Empty=;Authorization=Bearer t;x-dup=1;X-Dup=2;");
    EXPECT_EQ(head["host"], "api.example.com");
    EXPECT_EQ(head["X-DUP"], "1");  // the first of that name, any case
    EXPECT_FALSE(head.find("Missing").has_value());
    EXPECT_EQ(head["Missing"], "");
}

TEST(HttpHead, ParsesAResponse) {
    Head head;
    ASSERT_TRUE(head.parse_response("HTTP/1.0 404 Not Found Here\r\nContent-Length: 12\r\n\r\n"));
    EXPECT_EQ(head.status(), 404u);
    EXPECT_EQ(head.reason(), "Not Found Here");
    EXPECT_EQ(head.minor_version(), 0u);
    EXPECT_EQ(head.content_length(), 12u);
    EXPECT_FALSE(head.chunked());
    ASSERT_TRUE(head.parse_response("HTTP/1.1 204 \r\n\r\n"));
    EXPECT_EQ(head.reason(), "");
}

TEST(HttpHead, RefusesWhatIsNotAHead) {
    Head head;
    for (const char* bad :
         {"", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n", "GET /HTTP/1.1\r\n\r\n",
          "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1\r\nno colon\r\n\r\n",
          "GET / HTTP/1.1\r\n\r\ntrailing", " / HTTP/1.1\r\n\r\n"}) {
        EXPECT_FALSE(head.parse_request(bad)) << bad;
        EXPECT_TRUE(head.fields().empty());
    }
    for (const char* bad :
         {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n",
          "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/3.1 200 OK\r\n\r\n"}) {
        EXPECT_FALSE(head.parse_response(bad)) << bad;
    }
}

TEST(HttpHead, EditsKeepTheOrderOfTheRest) {
    Head head;
    ASSERT_TRUE(
        head.parse_request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nb: 4\r\nD: 5\r\n\r\n"));
    EXPECT_EQ(head.erase("b"), 2u);
    EXPECT_EQ(fields_of(head), "A=1;C=3;D=5;");
    head.set("A", "one");  // replaces every A, at the end
    EXPECT_EQ(fields_of(head), "C=3;D=5;A=one;");
    head.add("C", "again");
    EXPECT_EQ(fields_of(head), "C=3;D=5;A=one;C=again;");
    EXPECT_EQ(head.erase_if([](const HeadField& f) { return f.value.size() > 1; }), 2u);
    EXPECT_EQ(fields_of(head), "C=3;D=5;");
    head.replace_value(1, "five");
    head.set_target("/new");
    std::string out;
    head.append_request(out);
    EXPECT_EQ(out, "GET /new HTTP/1.1\r\nC: 3\r\nD: five\r\n\r\n");
}

TEST(HttpHead, ManyEditsKeepEarlierValuesValid) {
    // Set values live in stable storage: a later set must not move an earlier one.
    Head head;
    ASSERT_TRUE(head.parse_request("GET / HTTP/1.1\r\n\r\n"));
    std::string expected;
    for (int i = 0; i < 200; ++i) {
        const std::string name = "N" + std::to_string(i);
        const std::string value(static_cast<std::size_t>(i % 40), 'v');
        head.add(name, value);
        expected += name + "=" + value + ";";
    }
    EXPECT_EQ(fields_of(head), expected);
}

TEST(HttpHead, WritesAResponseWithTheStandardPhraseWhenTheReasonIsEmpty) {
    Head head;
    ASSERT_TRUE(head.parse_response("HTTP/1.1 204 \r\nX: y\r\n\r\n"));
    std::string out;
    head.append_response(out);
    EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nX: y\r\n\r\n");
    ASSERT_TRUE(head.parse_response("HTTP/1.0 599 Odd\r\n\r\n"));
    out.clear();
    head.append_response(out);
    EXPECT_EQ(out, "HTTP/1.0 599 Odd\r\n\r\n");
}

TEST(HttpHead, KeepAliveFollowsVersionAndConnection) {
    struct Case {
        const char* text;
        bool keep;
    };
    for (const Case& c : std::vector<Case>{
             {"GET / HTTP/1.1\r\n\r\n", true},
             {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
             {"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
             {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true},
             {"GET / HTTP/1.0\r\n\r\n", false},
             {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
             {"GET / HTTP/1.0\r\nConnection: x\r\nConnection: Keep-Alive\r\n\r\n", true},
             {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
         }) {
        Head head;
        ASSERT_TRUE(head.parse_request(c.text)) << c.text;
        EXPECT_EQ(head.keep_alive(), c.keep) << c.text;
    }
}

TEST(HttpHead, SetKeepAliveWritesWhatTheVersionNeeds) {
    Head head;
    ASSERT_TRUE(head.parse_request("GET / HTTP/1.1\r\nConnection: x, close\r\n\r\n"));
    head.set_keep_alive(true);
    EXPECT_EQ(fields_of(head), "");
    head.set_keep_alive(false);
    EXPECT_EQ(fields_of(head), "Connection=close;");
    EXPECT_FALSE(head.keep_alive());
    ASSERT_TRUE(head.parse_request("GET / HTTP/1.0\r\n\r\n"));
    head.set_keep_alive(true);
    EXPECT_EQ(fields_of(head), "Connection=keep-alive;");
    EXPECT_TRUE(head.keep_alive());
    head.set_keep_alive(false);
    EXPECT_EQ(fields_of(head), "");
}

TEST(HttpHead, Framing) {
    Head head;
    ASSERT_TRUE(head.parse_request("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"));
    EXPECT_TRUE(head.chunked());
    EXPECT_FALSE(head.content_length().has_value());
    ASSERT_TRUE(
        head.parse_request("POST / HTTP/1.1\r\nContent-Length: 0009007199254740992\r\n\r\n"));
    EXPECT_EQ(head.content_length(), 9007199254740992u);
    // Any number of leading zeros (the validator accepts them), beyond 19 characters too.
    ASSERT_TRUE(head.parse_request("POST / HTTP/1.1\r\nContent-Length: " + std::string(40, '0') +
                                   "5\r\n\r\n"));
    EXPECT_EQ(head.content_length(), 5u);
    ASSERT_TRUE(head.parse_request("POST / HTTP/1.1\r\nContent-Length: 000\r\n\r\n"));
    EXPECT_EQ(head.content_length(), 0u);
    ASSERT_TRUE(head.parse_request("POST / HTTP/1.1\r\n\r\n"));
    EXPECT_FALSE(head.chunked());
    EXPECT_FALSE(head.content_length().has_value());
}

TEST(HttpHead, ListContains) {
    EXPECT_TRUE(list_contains("a, b ,\tc", "B"));
    EXPECT_TRUE(list_contains(",,c,", "c"));
    EXPECT_FALSE(list_contains("ab, cd", "b"));
    EXPECT_FALSE(list_contains("", "a"));
}

TEST(HttpHead, ClearWipesSetValuesAndReuseKeepsThemApart) {
    Head head;
    ASSERT_TRUE(head.parse_request("GET / HTTP/1.1\r\n\r\n"));
    head.set("Authorization", "Bearer CANARY-SECRET-0123456789");
    const char* const stored = head.fields()[0].value.data();
    const std::size_t size = head.fields()[0].value.size();
    head.clear();
    // The storage stays (reused by the next request), but holds zeros, not the credential.
    EXPECT_EQ(std::string(stored, size), std::string(size, '\0'));
    ASSERT_TRUE(head.parse_request("GET /2 HTTP/1.1\r\nA: b\r\n\r\n"));
    head.set("X", "y");
    EXPECT_EQ(fields_of(head), "A=b;X=y;");
}

TEST(HttpHead, MovingKeepsTheViewsValid) {
    Head head;
    ASSERT_TRUE(head.parse_request("GET /p HTTP/1.1\r\nA: b\r\n\r\n"));
    head.set("C", "d");
    Head moved(std::move(head));
    EXPECT_EQ(moved.target(), "/p");
    EXPECT_EQ(fields_of(moved), "A=b;C=d;");
}

std::string framed(ChunkFrame& frame, std::string_view piece, bool last) {
    frame.frame(piece.size(), last);
    return std::string(frame.before()) + std::string(piece) + std::string(frame.after());
}

TEST(HttpChunkFrame, WritesChunkedCoding) {
    ChunkFrame frame;
    EXPECT_EQ(framed(frame, "hello", false), "5\r\nhello\r\n");
    EXPECT_EQ(framed(frame, std::string(0x1ab, 'x'), false),
              "1ab\r\n" + std::string(0x1ab, 'x') + "\r\n");
    EXPECT_EQ(framed(frame, "end", true), "3\r\nend\r\n0\r\n\r\n");
    // An empty piece is no chunk (a zero-size chunk would end the body early)...
    EXPECT_EQ(framed(frame, "", false), "");
    // ...unless it is the end.
    EXPECT_EQ(framed(frame, "", true), "0\r\n\r\n");
    frame.frame(std::size_t{0xffffffffffff}, false);
    EXPECT_EQ(frame.before(), "ffffffffffff\r\n");
}

}  // namespace
}  // namespace cloakroom::http
