// Invariant 8: every ambiguous or malformed request head is refused with a precise reason.
// Each row is one smuggling or parsing trick; heads that must pass are in
// http_beast_agreement_test.cpp, which also checks that Beast accepts them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/head_validator.hpp"

namespace cloakroom::http {
namespace {

using namespace std::string_literals;

struct Refused {
    std::string head;
    unsigned status;
    std::string reason_part;  // must appear in the reason
};

// A POST head with the given field lines (each ending in CRLF) after Host.
std::string post(const std::string& fields) {
    return "POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\n" + fields + "\r\n";
}

std::string get_line(const std::string& request_line) {
    return request_line + "\r\nHost: api.example.com\r\n\r\n";
}

const std::vector<Refused>& refused_requests() {
    static const std::vector<Refused> cases = {
        // CL.TE and TE.CL: both framings present, in either order.
        {post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400,
         "Content-Length together with Transfer-Encoding"},
        {post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400,
         "Content-Length together with Transfer-Encoding"},
        {post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"), 400, "together"},
        {post("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n"), 400, "together"},
        // TE.TE obfuscations.
        {post("Transfer-Encoding : chunked\r\n"), 400,
         "whitespace between header name 'Transfer-Encoding' and ':' is not allowed"},
        {post("Transfer-Encoding\t: chunked\r\n"), 400, "whitespace between header name"},
        {post("Transfer-Encoding: xchunked\r\n"), 501,
         "transfer coding 'xchunked' is not supported"},
        {post("Transfer-Encoding: chunked\r\nTransfer-encoding: identity\r\n"), 400,
         "more than one Transfer-Encoding field"},
        {post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400,
         "more than one Transfer-Encoding field"},
        {post("Transfer-Encoding: chunked, gzip\r\n"), 501,
         "transfer coding 'gzip' is not supported"},
        {post("Transfer-Encoding: gzip, chunked\r\n"), 501,
         "transfer coding 'gzip' is not supported"},
        {post("Transfer-Encoding: identity\r\n"), 501, "transfer coding 'identity'"},
        {post("Transfer-Encoding: chunked, chunked\r\n"), 400, "chunked more than once"},
        {post("Transfer-Encoding: chunked,\r\n"), 400, "is not a list of codings"},
        {post("Transfer-Encoding: ,chunked\r\n"), 400, "is not a list of codings"},
        {post("Transfer-Encoding: chunked;q=1\r\n"), 400, "is not a list of codings"},
        {post("Transfer-Encoding: \"chunked\"\r\n"), 400, "is not a list of codings"},
        {post("Transfer-Encoding: chu nked\r\n"), 400, "is not a list of codings"},
        {post("Transfer-Encoding:\r\n"), 400, "Transfer-Encoding is empty"},
        {post("Transfer-Encoding: \x0b"
              "chunked\r\n"),
         400, "control byte \\x0B"},
        {post("Transfer-Encoding: chunked\x00\r\n"s), 400, "control byte \\x00"},
        {post("Transfer-Encoding:\r\n chunked\r\n"), 400,
         "obs-fold (line folding) in header 'Transfer-Encoding' is not allowed"},
        {post("X-A: b\r\n\tc\r\n"), 400, "obs-fold (line folding) in header 'X-A' is not allowed"},
        {post("X-A: b\r\n c\r\n d\r\n"), 400, "obs-fold (line folding) in header 'X-A'"},
        {post("X-A: b\r\n \r\n"), 400, "obs-fold (line folding) in header 'X-A'"},
        {post("X(A: b\r\n c\r\n"), 400, "obs-fold (line folding) in header 'X(A'"},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "Transfer-Encoding in an HTTP/1.0 message"},
        // Content-Length variants.
        {post("Content-Length: 5, 5\r\n"), 400, "is a list; exactly one number is allowed"},
        {post("Content-Length: 5,\r\n"), 400, "is a list"},
        {post("Content-Length: 5\r\nContent-Length: 5\r\n"), 400,
         "more than one Content-Length field"},
        {post("Content-Length: 5\r\ncontent-length: 6\r\n"), 400,
         "more than one Content-Length field"},
        {post("Content-Length: +5\r\n"), 400, "'+5' is not a decimal number"},
        {post("Content-Length: -1\r\n"), 400, "is not a decimal number"},
        {post("Content-Length: 0x5\r\n"), 400, "'0x5' is not a decimal number"},
        {post("Content-Length: 5 5\r\n"), 400, "is not a decimal number"},
        {post("Content-Length: 5.0\r\n"), 400, "is not a decimal number"},
        {post("Content-Length: 1e3\r\n"), 400, "is not a decimal number"},
        {post("Content-Length: \xd9\xa5\r\n"), 400, "'\\xD9\\xA5' is not a decimal number"},
        {post("Content-Length:\r\n"), 400, "Content-Length is empty"},
        {post("Content-Length: 9007199254740993\r\n"), 400, "larger than 2^53"},
        {post("Content-Length: 18446744073709551616\r\n"), 400, "larger than 2^53"},
        {post("Content-Length: 99999999999999999999999999999\r\n"), 400, "larger than 2^53"},
        {post("Content-Length: 5\x00\r\n"s), 400, "control byte \\x00"},
        {post("Content-Length:\r\n 5\r\n"), 400, "obs-fold"},
        // Line endings.
        {"GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF (line ending without CR) in line 1"},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF (line ending without CR) in line 2"},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF (line ending without CR) in line 3"},
        {post("X-A: a\rb\r\n"), 400, "bare CR (not followed by LF) in line 3"},
        {post("X-A: a\r\r\n"), 400, "bare CR"},
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR (not followed by LF) in line 1"},
        {"GET / HTTP/1.1\r\nHost: a\r\n", 400, "does not end with CRLF CRLF"},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", 400, "does not end with CRLF CRLF"},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\nX: y\r\n\r\n", 400, "bytes follow the empty line"},
        {"GET / HTTP/1.1\r\n\r\nHost: a\r\n\r\n", 400, "bytes follow the empty line"},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n", 400, "bytes follow the empty line"},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\nX: y\r\n\r\nZ: w\r\n\r\n", 400,
         "bytes follow the empty line"},
        {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "the request line is empty"},
        {"\r\n\r\n", 400, "the request line is empty"},
        // Field names and values.
        {post("X(A: b\r\n"), 400, "header name 'X(A' contains an invalid character '('"},
        {post("X\x00"
              "A: b\r\n"s),
         400, "contains an invalid character \\x00"},
        {post("X\x7f: b\r\n"), 400, "contains an invalid character \\x7F"},
        {post("X\xc3\xa9: b\r\n"), 400, "contains an invalid character \\xC3"},
        {post("[x]: b\r\n"), 400, "invalid character '['"},
        {post(": b\r\n"), 400, "empty field name"},
        {post("NoColon\r\n"), 400, "header line 'NoColon' has no ':'"},
        {post("X-A: a\x00"
              "b\r\n"s),
         400, "value of header 'X-A' contains a control byte \\x00"},
        {post("X-A: a\x1b[31mb\r\n"), 400, "control byte \\x1B"},
        {post("X-A: a\x7f\r\n"), 400, "control byte \\x7F"},
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400,
         "whitespace before the first header field is not allowed"},
        {post("Connection: keep-alive close\r\n"), 400, "is not a list of tokens"},
        {post("Proxy-Connection: \"close\"\r\n"), 400, "is not a list of tokens"},
        {post("Content-Length: 5\r\nConnection: close, Content-Length\r\n"), 400,
         "the 'Connection' field must not name 'Content-Length', which frames the message"},
        {post("Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n"), 400,
         "must not name 'transfer-encoding'"},
        {post("Proxy-Connection: Host\r\n"), 400, "must not name 'Host'"},
        // Host.
        {"GET / HTTP/1.1\r\n\r\n", 400, "an HTTP/1.1 request must have a Host field"},
        {"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400, "must have a Host field"},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "more than one Host field"},
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "more than one Host field"},
        {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host field"},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "the host is empty"},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "the host contains ' '"},
        {"GET / HTTP/1.1\r\nHost: evil.com@api.example.com\r\n\r\n", 400, "contains '@'"},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "contains '/'"},
        {"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400, "the port is above 65535"},
        {"GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "the port after ':' is empty"},
        {"GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400, "the port contains ':'"},
        {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "is not closed"},
        {"GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", 400, "contains '%'"},
        {"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400, "unexpected text after ']'"},
        // Request line.
        {get_line("GET /a b HTTP/1.1"), 400, "request target '/a b' contains a space"},
        {get_line("GET / http/1.1"), 400, "unsupported HTTP version 'http/1.1'"},
        {get_line("GET / HTTP/1.2"), 400, "unsupported HTTP version 'HTTP/1.2'"},
        {get_line("GET / HTTP/2.0"), 400, "unsupported HTTP version"},
        {get_line("GET / HTTP/1.1x"), 400, "unsupported HTTP version"},
        {get_line("GET /"), 400, "is not 'METHOD SP target SP HTTP/1.1'"},
        {get_line("GET"), 400, "is not 'METHOD SP target SP HTTP/1.1'"},
        {get_line("GET  / HTTP/1.1"), 400, "has consecutive spaces"},
        {get_line("GET /  HTTP/1.1"), 400, "has consecutive spaces"},
        {get_line("GET / HTTP/1.1 "), 400, "the request line ends with a space"},
        {get_line(" GET / HTTP/1.1"), 400, "the request line starts with a space"},
        {get_line("GET\t/ HTTP/1.1"), 400, "is not 'METHOD SP target SP HTTP/1.1'"},
        {get_line("GET /\t HTTP/1.1"), 400, "contains byte \\x09"},
        {get_line("G(T / HTTP/1.1"), 400, "invalid method 'G(T'"},
        {get_line("GET /\x7f HTTP/1.1"), 400, "contains byte \\x7F"},
        {get_line("GET /caf\xc3\xa9 HTTP/1.1"), 400, "contains byte \\xC3"},
        {get_line("GET /\x00 HTTP/1.1"s), 400, "contains byte \\x00"},
        {get_line("GET /a#b HTTP/1.1"), 400, "contains a fragment"},
        {get_line("GET * HTTP/1.1"), 400, "only allowed with OPTIONS"},
        {get_line("GET foo HTTP/1.1"), 400, "is neither origin-form"},
        {get_line("GET 1http://a/ HTTP/1.1"), 400, "is neither origin-form"},
        {get_line("CONNECT / HTTP/1.1"), 400, "CONNECT target '/' is not host:port"},
        {get_line("CONNECT api.example.com HTTP/1.1"), 400, "a port is required"},
        {get_line("CONNECT http://api.example.com:443/ HTTP/1.1"), 400, "is not host:port"},
        {get_line("CONNECT user@api.example.com:443 HTTP/1.1"), 400, "contains '@'"},
        {"PRI * HTTP/2.0\r\n\r\n", 400, "HTTP/2 prior knowledge is not supported"},
    };
    return cases;
}

bool is_safe_text(const std::string& text) {
    for (char c : text) {
        if (c < 0x20 || c > 0x7E) return false;
    }
    return true;
}

TEST(HttpHeadValidator, RefusedRequestTable) {
    for (const Refused& c : refused_requests()) {
        SCOPED_TRACE(c.head.substr(0, 120));
        const auto rejection = validate_request_head(c.head);
        ASSERT_TRUE(rejection.has_value());
        EXPECT_EQ(rejection->status, c.status);
        EXPECT_NE(rejection->reason.find(c.reason_part), std::string::npos) << rejection->reason;
        EXPECT_TRUE(is_safe_text(rejection->reason)) << rejection->reason;
    }
}

TEST(HttpHeadValidator, BareCrOrLfIsFoundAtEveryOffset) {
    // Line ends are checked in 16-byte blocks: a stray byte at every offset, block edges
    // included, and a CRLF split across two blocks, must be found and named by line.
    const std::string head = post("X-Long-Field-Name: " + std::string(37, 'v') + "\r\n" +
                                  "X-B: " + std::string(15, 'w') + "\r\n");
    ASSERT_FALSE(validate_request_head(head)) << head;
    ASSERT_FALSE(check_incomplete_request_head(head.substr(0, head.size() - 1)));  // ends in CR
    for (std::size_t at = 0; at + 4 < head.size(); ++at) {
        if (head[at] == '\r' || head[at] == '\n') continue;
        std::size_t line = 1;
        for (std::size_t i = 0; i < at; ++i) line += head[i] == '\n' ? 1 : 0;
        for (const char stray : {'\r', '\n'}) {
            std::string bad = head;
            bad[at] = stray;
            const auto rejection = check_incomplete_request_head(bad);
            ASSERT_TRUE(rejection.has_value()) << at;
            const std::string expected =
                std::string(stray == '\r' ? "bare CR" : "bare LF") + " (" +
                (stray == '\r' ? "not followed by LF" : "line ending without CR") + ") in line " +
                std::to_string(line);
            EXPECT_EQ(rejection->reason, expected) << "offset " << at;
        }
    }
}

TEST(HttpHeadValidator, RefusedHeadsAreAlsoRefusedAsResponsesWith502) {
    // The same field-level tricks from an upstream: always 502, and the reason says which line
    // and what is wrong without quoting the upstream's bytes (http_response_reason_test.cpp).
    const std::vector<std::pair<std::string, std::string>> fields = {
        {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
         "line 4: Content-Length together with Transfer-Encoding is ambiguous framing"},
        {"Content-Length: 5\r\nContent-Length: 5\r\n",
         "line 4: more than one Content-Length field (even identical ones are refused)"},
        {"Content-Length: 5, 5\r\n",
         "line 3: Content-Length is a list; exactly one number is allowed"},
        {"Transfer-Encoding: gzip\r\n", "line 3: transfer coding is not supported (only chunked)"},
        {"Transfer-Encoding: chunked, gzip\r\n",
         "line 3: transfer coding is not supported (only chunked)"},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
         "line 4: more than one Transfer-Encoding field"},
        {"Transfer-Encoding : chunked\r\n",
         "line 3: whitespace between header name Transfer-Encoding and ':' is not allowed"},
        {"X-A: b\r\n c\r\n", "line 3: obs-fold (line folding) in header is not allowed"},
        {"X-A: a\rb\r\n", "bare CR (not followed by LF) in line 3"},
        {"Connection: close, content-length\r\n",
         "line 3: the Connection field must not name Content-Length, which frames the message"},
        {"X-Secret-Header-Without-Colon\r\n", "line 3: header line has no ':'"},
        {"X-A: a\x01-b\r\n", "line 3: value of header contains a control byte"},
        {"X(A: b\r\n", "line 3: header name contains an invalid character"},
    };
    for (const auto& [f, reason] : fields) {
        SCOPED_TRACE(f);
        ASSERT_TRUE(validate_request_head(post(f)).has_value());
        const auto as_response =
            validate_response_head("HTTP/1.1 200 OK\r\nX-Pad: 1\r\n" + f + "\r\n");
        ASSERT_TRUE(as_response.has_value());
        EXPECT_EQ(as_response->status, 502u);
        EXPECT_EQ(as_response->reason, reason);
    }
}

TEST(HttpHeadValidator, RefusedResponseTable) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"HTTP/1.1 200\r\n\r\n", "status code 100-999 followed by a space"},
        {"HTTP/1.1 20 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 099 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 2000 OK\r\n\r\n", "status code"},
        {"HTTP/1.1  200 OK\r\n\r\n", "status code"},
        {"http/1.1 200 OK\r\n\r\n", "unsupported HTTP version (only HTTP/1.1 and HTTP/1.0"},
        {"HTTP/2 200 OK\r\n\r\n", "unsupported HTTP version"},
        {"HTTP/1.1\r\n\r\n", "is not 'HTTP/1.1 SP code SP reason'"},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", "the reason phrase contains a control byte"},
        {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare LF"},
        {"HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n", "whitespace before the first"},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"},
        {"\r\n\r\n", "is not 'HTTP/1.1 SP code SP reason'"},
        {"HTTP/1.1 200 OK\r\n\r\nContent-Length: 0\r\n\r\n", "bytes follow the empty line"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\n", "bytes follow the empty line"},
    };
    for (const auto& [head, part] : cases) {
        SCOPED_TRACE(head);
        const auto rejection = validate_response_head(head);
        ASSERT_TRUE(rejection.has_value());
        EXPECT_EQ(rejection->status, 502u);
        EXPECT_NE(rejection->reason.find(part), std::string::npos) << rejection->reason;
    }
}

TEST(HttpHeadValidator, ResponsesNeedNoHostAndMayRepeatIt) {
    EXPECT_FALSE(validate_response_head("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n"));
}

TEST(HttpHeadValidator, ReasonQuotesAtMost64BytesSanitized) {
    const std::string junk = std::string(200, 'A') + "\x01\x02";
    const auto rejection = validate_request_head(post("X-Long: " + junk + "\r\n"));
    ASSERT_TRUE(rejection.has_value());
    EXPECT_TRUE(is_safe_text(rejection->reason));
    const auto bad_target =
        validate_request_head(get_line("GET /" + std::string(300, 'x') + "\x01 HTTP/1.1"));
    ASSERT_TRUE(bad_target.has_value());
    EXPECT_LT(bad_target->reason.size(), 160u) << bad_target->reason;
    EXPECT_NE(bad_target->reason.find("..."), std::string::npos);
    EXPECT_NE(bad_target->reason.find("\\x01"), std::string::npos);
    EXPECT_TRUE(is_safe_text(bad_target->reason));
    // A backslash is escaped too, so "\x41" in a reason always means one byte 0x41.
    const auto backslash = validate_request_head(get_line("G\\T / HTTP/1.1"));
    ASSERT_TRUE(backslash.has_value());
    EXPECT_NE(backslash->reason.find("'G\\x5CT'"), std::string::npos) << backslash->reason;
}

}  // namespace
}  // namespace cloakroom::http
