// Streaming redaction: every occurrence of every needle, across any chunking, becomes '*'s of
// the same length (docs/architecture.md, invariant 1).
#include <gtest/gtest.h>

#include <random>
#include <span>

#include "proxy/head_redaction.hpp"

namespace cloakroom::proxy {
namespace {

// Reference: star the union of all (possibly overlapping) occurrences, on the whole buffer.
std::string naive(std::string_view text, const std::vector<std::string_view>& needles) {
    std::string out(text);
    for (const auto needle : needles) {
        if (needle.empty()) continue;
        for (std::size_t at = text.find(needle); at != std::string_view::npos;
             at = text.find(needle, at + 1)) {
            std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), needle.size(), '*');
        }
    }
    return out;
}

std::string streamed(const std::vector<std::string_view>& needles,
                     const std::vector<std::string_view>& chunks, std::size_t* max_held = nullptr) {
    Redactor redactor(needles);
    std::string out;
    for (const auto chunk : chunks) {
        const std::size_t before = out.size();
        redactor.feed(chunk, out);
        EXPECT_GE(out.size(), before);
        if (max_held) *max_held = std::max(*max_held, redactor.held());
    }
    redactor.finish(out);
    EXPECT_EQ(redactor.held(), 0u);
    return out;
}

// As a relay redacting in place (feed_in_place): each chunk in a buffer of its own, the last
// one marked. What goes out per chunk: `before`, then the first N bytes of the buffer.
std::string streamed_in_place(const std::vector<std::string_view>& needles,
                              const std::vector<std::string_view>& chunks,
                              std::size_t* max_held = nullptr) {
    Redactor redactor(needles);
    std::string out;
    for (std::size_t k = 0; k < chunks.size(); ++k) {
        // Guard bytes around the piece: redaction must stay inside it.
        std::string buffer(1, '<');
        buffer.append(chunks[k]);
        buffer.push_back('>');
        std::string before = "kept";
        const std::size_t n = redactor.feed_in_place(
            std::span<char>(buffer.data() + 1, chunks[k].size()), before, k + 1 == chunks.size());
        EXPECT_LE(n, chunks[k].size());
        EXPECT_EQ(buffer.front(), '<');
        EXPECT_EQ(buffer.back(), '>');
        EXPECT_EQ(before.substr(0, 4), "kept");
        out += before.substr(4);
        out.append(buffer.data() + 1, n);
        if (max_held) *max_held = std::max(*max_held, redactor.held());
    }
    EXPECT_EQ(redactor.held(), 0u);
    return out;
}

std::vector<std::string_view> split(std::string_view text, std::vector<std::size_t> cuts) {
    std::vector<std::string_view> parts;
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
        parts.push_back(text.substr(from, cut - from));
        from = cut;
    }
    parts.push_back(text.substr(from));
    return parts;
}

// may_match: a stream shorter than the shortest needle cannot hold one (callers copy such a
// stream instead of feeding it); every length from the shortest needle's on can.
TEST(ProxyRedactor, MayMatchOnlyFromTheShortestNeedleOn) {
    EXPECT_FALSE(secrets::Redactor({}).may_match(1000));
    EXPECT_FALSE(secrets::Redactor({""}).may_match(1000));
    const secrets::Redactor redactor({"longer-needle", "abcd", ""});
    EXPECT_FALSE(redactor.may_match(0));
    EXPECT_FALSE(redactor.may_match(3));
    EXPECT_TRUE(redactor.may_match(4));
    EXPECT_TRUE(redactor.may_match(100));
    secrets::Redactor copying({"abcd"});
    EXPECT_EQ(copying.redact("abc"), "abc");
    EXPECT_EQ(copying.redact("abcd"), "****");
}

TEST(ProxyRedactor, WholeBuffer) {
    Redactor r({"SECRET"});
    EXPECT_EQ(r.redact("a SECRET b SECRETSECRET"), "a ****** b ************");
    EXPECT_EQ(r.redactions(), 3u);
    EXPECT_EQ(r.redact(""), "");
    EXPECT_EQ(r.redact("SECRE"), "SECRE");
    EXPECT_EQ(r.redact("SECRET"), "******");
    EXPECT_EQ(r.redact("xSECRET"), "x******");
    EXPECT_EQ(r.redact("SECRETx"), "******x");
}

TEST(ProxyRedactor, NoNeedlePresentIsCopiedUnchanged) {
    Redactor r({"s3cr3t-value", "Bearer s3cr3t-value"});
    const std::string text = "HTTP body with Bearer tokens and s3cr3t values, but not the one";
    std::string out = "prefix:";
    r.feed(text, out);
    r.finish(out);
    EXPECT_EQ(out, "prefix:" + text);
    EXPECT_EQ(r.redactions(), 0u);
}

TEST(ProxyRedactor, DoesNotTouchCallerBytesBeforeTheCall) {
    Redactor r({"abc"});
    std::string out = "abcab";  // looks like a needle, but is the caller's
    r.feed("c", out);
    r.finish(out);
    EXPECT_EQ(out, "abcabc");
}

TEST(ProxyRedactor, EmptyNeedleListAndEmptyNeedles) {
    Redactor none({});
    EXPECT_EQ(none.redact("anything"), "anything");
    Redactor blank({"", "x"});
    EXPECT_EQ(blank.redact("axa"), "a*a");
}

TEST(ProxyRedactor, EverySplitPosition) {
    const std::vector<std::string_view> needles = {"sk_live_ABC123", "Bearer sk_live_ABC123",
                                                   "c2tfbGl2ZV9BQkMxMjM=", "ABC"};
    const std::string text =
        "start sk_live_ABC123 mid Bearer sk_live_ABC123 c2tfbGl2ZV9BQkMxMjM= ABABC sk_live_ABC12 "
        "end sk_live_ABC123";
    const std::string expected = naive(text, needles);
    ASSERT_NE(expected, text);
    for (std::size_t i = 0; i <= text.size(); ++i) {
        EXPECT_EQ(streamed(needles, split(text, {i})), expected) << "split at " << i;
        EXPECT_EQ(streamed_in_place(needles, split(text, {i})), expected) << "split at " << i;
        for (std::size_t j = i; j <= text.size(); j += 7) {
            EXPECT_EQ(streamed(needles, split(text, {i, j})), expected) << i << "," << j;
            EXPECT_EQ(streamed_in_place(needles, split(text, {i, j})), expected) << i << "," << j;
        }
    }
}

TEST(ProxyRedactor, OneByteChunksHoldBackLessThanTheLongestNeedle) {
    const std::vector<std::string_view> needles = {"aab", "abaab", "b"};
    const std::string text = "xxaabaabaababaabyaaaaabbbab";
    std::vector<std::string_view> chunks;
    for (std::size_t i = 0; i < text.size(); ++i)
        chunks.push_back(std::string_view(text).substr(i, 1));
    std::size_t max_held = 0;
    EXPECT_EQ(streamed(needles, chunks, &max_held), naive(text, needles));
    EXPECT_LT(max_held, 5u);
    max_held = 0;
    EXPECT_EQ(streamed_in_place(needles, chunks, &max_held), naive(text, needles));
    EXPECT_LT(max_held, 5u);

    const std::vector<std::string_view> long_needle = {"0123456789"};
    const std::string digits = "012345678 0123456789 01234567890123456789";
    chunks.clear();
    for (std::size_t i = 0; i < digits.size(); ++i)
        chunks.push_back(std::string_view(digits).substr(i, 1));
    max_held = 0;
    EXPECT_EQ(streamed(long_needle, chunks, &max_held), naive(digits, long_needle));
    EXPECT_LE(max_held, 9u);
}

TEST(ProxyRedactor, OverlappingNeedlesLeakNoPartialSecret) {
    // Two secrets sharing bytes: every byte of either occurrence is hidden.
    EXPECT_EQ(Redactor({"abcd", "cdef"}).redact("xabcdefx"), "x******x");
    // Nested: longest wins, shorter inside it does not split it.
    Redactor nested({"S3CRET", "Bearer S3CRET"});
    EXPECT_EQ(nested.redact("Authorization: Bearer S3CRET\n"), "Authorization: *************\n");
    EXPECT_EQ(nested.redactions(), 1u);
    // Self-overlap.
    EXPECT_EQ(Redactor({"aa"}).redact("aaa"), "***");
    EXPECT_EQ(Redactor({"aba"}).redact("ababa_aba"), "*****_***");
}

TEST(ProxyRedactor, NeedleAtStartEndAndAlone) {
    const std::vector<std::string_view> needles = {"TOPSECRET"};
    for (const std::string& text :
         {std::string("TOPSECRET"), std::string("TOPSECRET tail"), std::string("head TOPSECRET"),
          std::string("TOPSECRETTOPSECRET")}) {
        for (std::size_t i = 0; i <= text.size(); ++i) {
            EXPECT_EQ(streamed(needles, split(text, {i})), naive(text, needles))
                << text << " @" << i;
            EXPECT_EQ(streamed_in_place(needles, split(text, {i})), naive(text, needles))
                << text << " @" << i;
        }
    }
}

TEST(ProxyRedactor, PartialNeedleAtEndOfStreamIsReleased) {
    Redactor r({"SECRET"});
    std::string out;
    r.feed("data SECR", out);
    EXPECT_EQ(out, "data ");
    EXPECT_EQ(r.held(), 4u);
    r.finish(out);
    EXPECT_EQ(out, "data SECR");
}

TEST(ProxyRedactor, CompletedNeedleIsNotHeldBack) {
    Redactor r({"SECRET", "SEC"});
    std::string out;
    r.feed("x SECRET", out);
    EXPECT_EQ(out, "x ******");
    EXPECT_EQ(r.held(), 0u);
}

TEST(ProxyRedactor, BinaryBytes) {
    const std::string needle("\x00\xff\x80secret", 9);
    const std::string text = std::string("\x00\x00", 2) + needle + std::string("\xff", 1) + needle;
    EXPECT_EQ(streamed({needle}, split(text, {3, 5})), naive(text, {needle}));
}

TEST(ProxyRedactor, RandomAgainstNaive) {
    std::mt19937 rng(12345);
    auto random_string = [&](std::size_t length, int alphabet) {
        std::string s;
        for (std::size_t i = 0; i < length; ++i) {
            s.push_back(
                static_cast<char>('a' + std::uniform_int_distribution<int>(0, alphabet - 1)(rng)));
        }
        return s;
    };
    for (int round = 0; round < 3000; ++round) {
        const int alphabet = 1 + static_cast<int>(rng() % 4);
        std::vector<std::string> owned;
        const std::size_t count = 1 + rng() % 4;
        for (std::size_t k = 0; k < count; ++k)
            owned.push_back(random_string(1 + rng() % 6, alphabet));
        std::vector<std::string_view> needles(owned.begin(), owned.end());
        const std::string text = random_string(rng() % 80, alphabet);
        std::vector<std::size_t> cuts;
        for (std::size_t at = 0; at < text.size();) {
            at += rng() % 9;
            if (at <= text.size()) cuts.push_back(at);
        }
        std::size_t max_held = 0;
        std::size_t longest = 0;
        for (const auto& n : owned) longest = std::max(longest, n.size());
        ASSERT_EQ(streamed(needles, split(text, cuts), &max_held), naive(text, needles))
            << "round " << round << " text " << text;
        ASSERT_LT(max_held, longest);
        max_held = 0;
        ASSERT_EQ(streamed_in_place(needles, split(text, cuts), &max_held), naive(text, needles))
            << "in place, round " << round << " text " << text;
        ASSERT_LT(max_held, longest);
    }
}

TEST(ProxyRedactor, InPlaceHoldsBackAcrossPiecesAndReleasesAtTheEnd) {
    Redactor r({"SECRET"});
    std::string before;
    std::string piece = "data SECR";
    EXPECT_EQ(r.feed_in_place(std::span<char>(piece), before, false), 5u);  // "data " goes
    EXPECT_EQ(before, "");
    EXPECT_EQ(r.held(), 4u);
    std::string next = "ET tail";  // completes the needle begun in the piece before
    EXPECT_EQ(r.feed_in_place(std::span<char>(next), before, false), next.size());
    EXPECT_EQ(before, "****");
    EXPECT_EQ(next, "** tail");
    before.clear();
    std::string end = "x SEC";  // a needle's start at the very end goes out as it is
    EXPECT_EQ(r.feed_in_place(std::span<char>(end), before, true), end.size());
    EXPECT_EQ(before, "");
    EXPECT_EQ(end, "x SEC");
    EXPECT_EQ(r.held(), 0u);
}

TEST(ProxyRedactor, LargeBodyIsLinear) {
    // A hostile upstream cannot make matching quadratic: 4 MiB of near-misses.
    const std::string needle = std::string(1000, 'a') + "b";
    std::string body(4 << 20, 'a');
    Redactor r({needle});
    std::string out;
    out.reserve(body.size());
    for (std::size_t at = 0; at < body.size(); at += 16384)
        r.feed(std::string_view(body).substr(at, 16384), out);
    r.finish(out);
    EXPECT_EQ(out, body);
}

TEST(ProxyRedactor, HeaderValues) {
    http::Head header;
    ASSERT_TRUE(header.parse_response(
        "HTTP/1.1 200 OK\r\nX-Echo-Authorization: Bearer SECRETVAL\r\n"
        "Content-Type: text/plain\r\nSet-Cookie: a=SECRETVAL; Path=/\r\nSet-Cookie: b=2\r\n\r\n"));
    redact_header_values(header, {"SECRETVAL"});
    std::string all;
    for (const auto& f : header.fields())
        all += std::string(f.name) + "=" + std::string(f.value) + "\n";
    EXPECT_EQ(all,
              "X-Echo-Authorization=Bearer *********\nContent-Type=text/plain\n"
              "Set-Cookie=a=*********; Path=/\nSet-Cookie=b=2\n");
    EXPECT_EQ(header.status(), 200u);
    // What goes to the client is the redacted head.
    std::string out;
    header.append_response(out);
    EXPECT_EQ(out.find("SECRETVAL"), std::string::npos) << out;
}

TEST(ProxyRedactor, HeaderValuesSetAfterParsingAreSeenToo) {
    // One look at the received bytes clears an unedited head; a value set afterwards is not in
    // them and must still be checked. Two needles with different first bytes, as a bearer
    // credential has.
    http::Head header;
    ASSERT_TRUE(header.parse_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"));
    header.set("X-Late", "Bearer SECRETVAL");
    redact_header_values(header, {"SECRETVAL", "Bearer SECRETVAL"});
    EXPECT_EQ(header["X-Late"], "****************");
    ASSERT_TRUE(header.parse_response("HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: xxSECRETVALyy\r\n\r\n"));
    redact_header_values(header, {"SECRETVAL", "Bearer SECRETVAL"});
    EXPECT_EQ(header["X-B"], "xx*********yy");
    EXPECT_EQ(header["X-A"], "1");
    // Each needle is looked for, whichever byte it starts with (a user and a password).
    for (const char* text : {"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-C: -OTHERSECRET-\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nX-C: -OTHERSECRET-\r\nX-S: S\r\n\r\n"}) {
        ASSERT_TRUE(header.parse_response(text));
        redact_header_values(header, {"SECRETVAL", "OTHERSECRET"});
        EXPECT_EQ(header["X-C"], "-***********-") << text;
    }
}

// Every byte of a response head the upstream chose is redacted: the reason phrase and field
// names too, not only values (which were all redact_header_values covered).
TEST(ProxyRedactor, ResponseHeadEveryPart) {
    struct Case {
        std::string head;
        std::string expected;  // the head as written after redaction
    };
    const std::vector<Case> cases = {
        {"HTTP/1.1 401 bad key SECRETVAL\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 401 bad key *********\r\nContent-Length: 0\r\n\r\n"},
        {"HTTP/1.1 200 OK\r\nX-SECRETVAL: 1\r\n\r\n", "HTTP/1.1 200 OK\r\nX-*********: 1\r\n\r\n"},
        {"HTTP/1.1 200 OK\r\nSECRETVAL: SECRETVAL\r\n\r\n",
         "HTTP/1.1 200 OK\r\n*********: *********\r\n\r\n"},
        {"HTTP/1.1 200 OK\r\nX-A: Bearer SECRETVAL\r\n\r\n",
         "HTTP/1.1 200 OK\r\nX-A: ****************\r\n\r\n"},
        {"HTTP/1.1 200 Bearer SECRETVALx\r\nBearer: 1\r\n\r\n",
         "HTTP/1.1 200 ****************x\r\nBearer: 1\r\n\r\n"},
        {"HTTP/1.0 404 OK\r\nX-A: 1\r\n\r\n", "HTTP/1.0 404 OK\r\nX-A: 1\r\n\r\n"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.head);
        http::Head head;
        ASSERT_TRUE(head.parse_response(c.head));
        EXPECT_TRUE(redact_response_head(head, {"SECRETVAL", "Bearer SECRETVAL"}));
        std::string out;
        head.append_response(out);
        EXPECT_EQ(out, c.expected);
        // What is written is still a head the validator accepts (names stay tokens).
        http::Head again;
        EXPECT_TRUE(again.parse_response(out));
    }
}

TEST(ProxyRedactor, ResponseHeadPartsSetAfterParsingAreSeenToo) {
    http::Head head;
    ASSERT_TRUE(head.parse_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"));
    head.set("X-Late", "SECRETVAL");
    head.set_reason("because SECRETVAL");
    EXPECT_TRUE(redact_response_head(head, {"SECRETVAL"}));
    EXPECT_EQ(head["X-Late"], "*********");
    EXPECT_EQ(head.reason(), "because *********");
}

// A needle that only occurs across two parts of the written head (here a secret that contains
// ": ", split into a name and a value) cannot be hidden part by part: the head is refused.
TEST(ProxyRedactor, ResponseHeadNeedleAcrossPartsIsRefused) {
    http::Head head;
    ASSERT_TRUE(head.parse_response("HTTP/1.1 200 OK\r\nsk: live\r\n\r\n"));
    EXPECT_FALSE(redact_response_head(head, {"sk: live"}));
    ASSERT_TRUE(head.parse_response("HTTP/1.1 200 sk\r\n\r\n"));
    EXPECT_FALSE(redact_response_head(head, {"200 sk"}));
    ASSERT_TRUE(head.parse_response("HTTP/1.1 200 OK\r\nX: y\r\n\r\n"));
    EXPECT_TRUE(redact_response_head(head, {"sk: live"}));
    EXPECT_TRUE(redact_response_head(head, std::vector<std::string_view>{}));
}

// Fuzz-like: a canary at every offset of every part of a response head; none survives.
TEST(ProxyRedactor, ResponseHeadCanaryAnywhere) {
    const std::string canary = "CANARY7x9";
    const std::string base = "HTTP/1.1 200 Some Reason\r\nX-Name-One: value one\r\nAb: cd\r\n\r\n";
    std::size_t checked = 0;
    for (std::size_t at = 0; at < base.size(); ++at) {
        std::string text = base;
        text.insert(at, canary);
        http::Head head;
        if (!head.parse_response(text)) continue;  // e.g. inside "HTTP/1.1 200"
        ++checked;
        const bool clean = redact_response_head(head, {canary});
        std::string out;
        head.append_response(out);
        if (clean) {
            EXPECT_EQ(out.find(canary), std::string::npos) << out;
            EXPECT_EQ(out.find("CANARY"), std::string::npos) << out;
        }
    }
    EXPECT_GT(checked, 40u);
}

}  // namespace
}  // namespace cloakroom::proxy
