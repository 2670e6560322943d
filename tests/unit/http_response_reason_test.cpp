// A response's rejection reason holds no byte of the response (http/head_text.hpp): an upstream
// may echo the injected credential in any line of a malformed head, and the reason reaches the
// agent (502 body), the audit record and the log. Request reasons may quote the request (the
// agent's own bytes); http_head_validator_test.cpp checks that they still do.
//
// Method: every malformed head is built twice, once with canary A and once with canary B, two
// strings of the same length and the same character class at every position (letter for letter,
// digit for digit) but no byte in common at any position. The validator cannot tell them apart,
// so the verdicts must be equal; if the reason quoted a byte of the canary, the reasons differ.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "http/head_validator.hpp"

namespace cloakroom::http {
namespace {

using namespace std::string_literals;

constexpr std::string_view kCanaryA = "Sk9LiveQ7Zx2Wm4R";
constexpr std::string_view kCanaryB = "Pt3DemoK8Yw5Vn6T";

std::string with_canary(std::string text, std::string_view canary) {
    for (std::size_t at = text.find("{C}"); at != std::string::npos; at = text.find("{C}")) {
        text.replace(at, 3, canary);
    }
    return text;
}

// No run of 4 canary bytes in the reason (a stricter check than the A/B comparison for reasons
// that happen to be equal).
void expect_no_canary(const std::string& reason, std::string_view canary) {
    for (std::size_t i = 0; i + 4 <= canary.size(); ++i) {
        EXPECT_EQ(reason.find(canary.substr(i, 4)), std::string::npos)
            << "reason quotes the response: " << reason;
    }
}

// Both heads (same shape, different canary) get the same verdict, and a refusal quotes nothing.
void expect_same_blind_verdict(const std::string& a, const std::string& b,
                               const HeadLimits& limits = {}) {
    const auto ra = validate_response_head(a, limits);
    const auto rb = validate_response_head(b, limits);
    ASSERT_EQ(ra.has_value(), rb.has_value()) << a;
    if (ra) {
        EXPECT_EQ(ra->status, 502u);
        EXPECT_EQ(ra->reason, rb->reason) << "the reason depends on the upstream's bytes";
        expect_no_canary(ra->reason, kCanaryA);
    }
    // The same bytes before their terminator arrived (the early-refusal path).
    const std::size_t cut = a.size() > 4 ? a.size() - 4 : 0;
    const auto ia = check_incomplete_response_head(std::string_view(a).substr(0, cut), limits);
    const auto ib = check_incomplete_response_head(std::string_view(b).substr(0, cut), limits);
    ASSERT_EQ(ia.has_value(), ib.has_value()) << a;
    if (ia) {
        EXPECT_EQ(ia->reason, ib->reason);
        expect_no_canary(ia->reason, kCanaryA);
    }
}

TEST(HttpResponseReason, CanariesHaveTheSameShapeAndNoCommonByte) {
    ASSERT_EQ(kCanaryA.size(), kCanaryB.size());
    for (std::size_t i = 0; i < kCanaryA.size(); ++i) {
        EXPECT_NE(kCanaryA[i], kCanaryB[i]);
        EXPECT_EQ(std::isdigit(static_cast<unsigned char>(kCanaryA[i])) != 0,
                  std::isdigit(static_cast<unsigned char>(kCanaryB[i])) != 0);
    }
}

// Each kind of malformed head the validator names, with the canary (an injected credential
// echoed back) in the offending place.
TEST(HttpResponseReason, MalformedHeadsNeverQuoteTheOffendingLine) {
    const std::vector<std::string> heads = {
        // Header lines without a colon: the echoed credential alone, or after a name.
        "HTTP/1.1 200 OK\r\n{C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Echo Bearer {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nAuthorization Bearer {C}\r\n\r\n",
        // Bad framing values.
        "HTTP/1.1 200 OK\r\nContent-Length: {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1{C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: {C} chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: \"{C}\"\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: close {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nProxy-Connection: \"{C}\"\r\n\r\n",
        // Bad names.
        "HTTP/1.1 200 OK\r\nX-{C}(: v\r\n\r\n",
        "HTTP/1.1 200 OK\r\n{C}\x01: v\r\n\r\n"s,
        "HTTP/1.1 200 OK\r\nX-{C} : v\r\n\r\n",
        "HTTP/1.1 200 OK\r\n{C}\t: v\r\n\r\n",
        "HTTP/1.1 200 OK\r\n{C}\xc3\xa9: v\r\n\r\n",
        // Bad values.
        "HTTP/1.1 200 OK\r\nX-A: Bearer {C}\x01\r\n\r\n"s,
        "HTTP/1.1 200 OK\r\nX-A: {C}\x7f\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: {C}\x00x\r\n\r\n"s,
        "HTTP/1.1 200 OK\r\nX-{C}: a\r\n {C}\r\n\r\n",
        // Bad status lines.
        "{C} 200 OK\r\n\r\n",
        "HTTP/1.1{C}\r\n\r\n",
        "HTTP/1.1 {C}\r\n\r\n",
        "HTTP/1.1 2{C} OK\r\n\r\n",
        "HTTP/1.1 200 {C}\x01\r\n\r\n",
        "HTTP/1.1 200 {C}\x1b\r\n\r\n",
        // Line endings.
        "HTTP/1.1 200 OK\r\nX-A: {C}\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: {C}\rX\r\n\r\n",
        "HTTP/1.1 200 {C}\nX: y\r\n\r\n",
    };
    for (const std::string& shape : heads) {
        SCOPED_TRACE(shape);
        const std::string a = with_canary(shape, kCanaryA);
        ASSERT_TRUE(validate_response_head(a).has_value()) << "not malformed: " << a;
        expect_same_blind_verdict(a, with_canary(shape, kCanaryB));
    }
}

TEST(HttpResponseReason, SizeLimitsNeverQuote) {
    HeadLimits limits;
    limits.max_line_bytes = 40;
    limits.max_fields = 2;
    limits.max_head_bytes = 200;
    const std::vector<std::string> heads = {
        "HTTP/1.1 200 OK\r\nX-A: {C}{C}{C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: {C}\r\nB: {C}\r\nC: {C}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: {C}{C}\r\nB: {C}{C}\r\nC: {C}{C}\r\nD: {C}{C}\r\nE: {C}{C}\r\n\r\n",
        "HTTP/1.1 200 {C}{C}{C}\r\n\r\n",
    };
    for (const std::string& shape : heads) {
        SCOPED_TRACE(shape);
        expect_same_blind_verdict(with_canary(shape, kCanaryA), with_canary(shape, kCanaryB),
                                  limits);
    }
}

// Fuzz-like: a well-formed head full of echoed credentials, with one byte replaced or inserted
// at every position by every byte that breaks something (colon, space, controls, CR, LF, DEL,
// non-ASCII, separators). Whatever breaks, and wherever, the reason quotes nothing.
TEST(HttpResponseReason, EverySingleByteBreakageAtEveryPositionIsBlind) {
    const std::string shape =
        "HTTP/1.1 200 {C}\r\nX-{C}: Bearer {C}\r\nContent-Length: 2\r\nConnection: {C}\r\n"
        "Set-Cookie: s={C}\r\n\r\n";
    const std::string a = with_canary(shape, kCanaryA);
    const std::string b = with_canary(shape, kCanaryB);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(validate_response_head(a).has_value());
    const std::string breakers = ":\x01\x7f\r\n\t ,(\"\x00\xc3/"s;
    std::size_t refused = 0;
    for (std::size_t at = 0; at < a.size(); ++at) {
        for (const char m : breakers) {
            SCOPED_TRACE(testing::Message() << "offset " << at << " byte " << int(m));
            std::string ra = a;
            std::string rb = b;
            ra[at] = m;
            rb[at] = m;
            expect_same_blind_verdict(ra, rb);
            refused += validate_response_head(ra).has_value() ? 1 : 0;
            std::string ia = a;
            std::string ib = b;
            ia.insert(at, 1, m);
            ib.insert(at, 1, m);
            expect_same_blind_verdict(ia, ib);
            refused += validate_response_head(ia).has_value() ? 1 : 0;
            if (HasFailure()) return;
        }
    }
    // Most variants are refused (some breakers are harmless in a value); each reason was checked.
    EXPECT_GT(refused, a.size() * breakers.size());
}

// The other half of the rule: a request's reason still quotes the request, so an agent sees
// exactly what it got wrong.
TEST(HttpResponseReason, RequestReasonsStillQuoteTheAgentsBytes) {
    const auto rejection =
        validate_request_head("GET / HTTP/1.1\r\nHost: a\r\nX-Agent-Line\r\n\r\n");
    ASSERT_TRUE(rejection.has_value());
    EXPECT_EQ(rejection->reason, "header line 'X-Agent-Line' has no ':'");
}

}  // namespace
}  // namespace cloakroom::http
