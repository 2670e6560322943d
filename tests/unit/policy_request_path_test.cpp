// Normalization is the single decision point of invariant 4: these tables pin every rule.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/request_path.hpp"

namespace cloakroom::policy {
namespace {

struct Accepted {
    std::string raw;
    std::string path;
    std::string query;  // "<none>" when there is no '?'
};

const std::vector<Accepted>& accepted_cases() {
    static const std::vector<Accepted> cases = {
        {"/", "/", "<none>"},
        {"/v1/customers", "/v1/customers", "<none>"},
        // Dot segments, literal and encoded in every case mix, before and after other segments.
        {"/a/./b", "/a/b", "<none>"},
        {"/a/b/../c", "/a/c", "<none>"},
        {"/v1/a%2Db/../c?x=1", "/v1/c", "x=1"},
        {"/v1/customers/../transfers", "/v1/transfers", "<none>"},
        {"/v1/customers/%2e%2e/transfers", "/v1/transfers", "<none>"},
        {"/v1/customers/%2E%2E/transfers", "/v1/transfers", "<none>"},
        {"/v1/customers/%2E./transfers", "/v1/transfers", "<none>"},
        {"/v1/customers/.%2e/transfers", "/v1/transfers", "<none>"},
        {"/v1/customers/%2e/x", "/v1/customers/x", "<none>"},
        {"/a/b/../../..", "/", "<none>"},
        {"/../a", "/a", "<none>"},
        {"/../../../etc/passwd", "/etc/passwd", "<none>"},
        {"/..", "/", "<none>"},
        {"/.", "/", "<none>"},
        {"/a/..", "/", "<none>"},
        {"/a/b/..", "/a/", "<none>"},
        {"/a/b/.", "/a/b/", "<none>"},
        {"/a/b/%2e", "/a/b/", "<none>"},
        // Segments that merely contain dots are data.
        {"/a/.../b", "/a/.../b", "<none>"},
        {"/a/..b/c", "/a/..b/c", "<none>"},
        {"/a/.git/config", "/a/.git/config", "<none>"},
        {"/a/b../c", "/a/b../c", "<none>"},
        // Empty segments collapse; a trailing slash survives.
        {"//", "/", "<none>"},
        {"///a", "/a", "<none>"},
        {"/a//b", "/a/b", "<none>"},
        {"/a///b//", "/a/b/", "<none>"},
        {"/a/", "/a/", "<none>"},
        {"//../a", "/a", "<none>"},
        {"/a/.//../b", "/b", "<none>"},
        // Empty segments go before ".." applies, so ".." always removes a real segment.
        {"/a/b//../c", "/a/c", "<none>"},
        // Unreserved escapes decode, others keep upper-case hex.
        {"/%41%42%43", "/ABC", "<none>"},
        {"/%7e%5F%2d%30", "/~_-0", "<none>"},
        {"/a%3ab", "/a%3Ab", "<none>"},
        {"/a%3Ab", "/a%3Ab", "<none>"},
        {"/v1/caf%c3%a9", "/v1/caf%C3%A9", "<none>"},
        {"/a%20b", "/a%20b", "<none>"},
        {"/a%25", "/a%25", "<none>"},
        {"/a%252e%252e/b", "/a%252e%252e/b", "<none>"},  // one decoding level only
        {"/a%23b", "/a%23b", "<none>"},
        {"/a%3Fb", "/a%3Fb", "<none>"},
        {"/a%0Ab", "/a%0Ab", "<none>"},  // encoded controls other than NUL are data
        // Sub-delims, ':' and '@' are legal raw and stay as sent.
        {"/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,=", "<none>"},
        // ';' is a sub-delim too, but a raw one is refused (path parameters, see RefusedTable);
        // encoded it is data, kept encoded, so no server splits a parameter off it.
        {"/v1/public/..%3b/admin", "/v1/public/..%3B/admin", "<none>"},
        {"/a%3Bb/c", "/a%3Bb/c", "<none>"},
        {"/a?x=1;y=2", "/a", "x=1;y=2"},  // the query is not a path: ';' there is data
        // Raw bytes RFC 3986 forbids but that are harmless data get encoded.
        {"/a|b", "/a%7Cb", "<none>"},
        {"/a%7cb", "/a%7Cb", "<none>"},
        {"/{x}[0]^`\"<>", "/%7Bx%7D%5B0%5D%5E%60%22%3C%3E", "<none>"},
        // The query is split at the first '?', and kept verbatim: no decoding, no dot removal.
        {"/a?", "/a", ""},
        {"/a?x=1&y=%2f..%2F", "/a", "x=1&y=%2f..%2F"},
        {"/a/../b?c=/../d", "/b", "c=/../d"},
        {"/a?b?c", "/a", "b?c"},
        {"/a?x=a\\b|c%zz%", "/a", "x=a\\b|c%zz%"},
        {"/a?%00", "/a", "%00"},
        {"/?", "/", ""},
    };
    return cases;
}

TEST(NormalizeTarget, AcceptedTable) {
    for (const Accepted& c : accepted_cases()) {
        SCOPED_TRACE(c.raw);
        auto result = normalize_target(c.raw);
        ASSERT_TRUE(result.ok()) << result.error().message;
        EXPECT_EQ(result->path, c.path);
        if (c.query == "<none>") {
            EXPECT_FALSE(result->has_query);
            EXPECT_EQ(result->request_target(), c.path);
        } else {
            EXPECT_TRUE(result->has_query);
            EXPECT_EQ(result->query, c.query);
            EXPECT_EQ(result->request_target(), c.path + "?" + c.query);
        }
    }
}

struct Refused {
    std::string raw;
    std::string message_part;  // a part of the message that names the problem precisely
};

TEST(NormalizeTarget, RefusedTable) {
    const std::vector<Refused> cases = {
        {"", "empty"},
        {"v1/x", "must start with '/'"},
        {"*", "must start with '/'"},
        {"http://api.example.com/x", "must start with '/'"},
        {"?x=1", "must start with '/'"},
        {std::string("/a\0b", 4), "NUL byte at offset 2"},
        {"/a%00b", "encoded NUL %00 at offset 2"},
        {"/a\x01", "control byte 0x01 at offset 2"},
        {"/a\r\nHost: evil", "control byte 0x0D at offset 2"},
        {"/a\tb", "control byte 0x09"},
        {"/a\x7f", "control byte 0x7F"},
        {"/a b", "raw space (encode it as %20) at offset 2"},
        {"/a\\..\\b", "raw backslash at offset 2"},
        {"/v1/a%2Fb", "path: encoded slash %2F at offset 5 is refused"},
        {"/v1/a%2fb", "encoded slash %2F at offset 5"},
        {"/v1/customers/..%2F..%2Ftransfers", "encoded slash %2F at offset 16"},
        {"/a%5Cb", "encoded backslash %5C at offset 2"},
        {"/a%5cb", "encoded backslash %5C at offset 2"},
        {"/a%", "truncated percent escape at offset 2"},
        {"/a%2", "truncated percent escape at offset 2"},
        {"/a%2?x", "truncated percent escape at offset 2"},
        {"/a%G1", "malformed percent escape (needs two hex digits) at offset 2"},
        {"/a%1G", "malformed percent escape"},
        {"/a%%41", "malformed percent escape (needs two hex digits) at offset 2"},
        {"/a%-1", "malformed percent escape"},
        {"/caf\xc3\xa9", "non-ASCII byte 0xC3 (percent-encode UTF-8, e.g. %C3%A9) at offset 4"},
        {"/a#frag", "'#' (fragments are never sent; encode it as %23) at offset 2"},
        // Path parameters: Tomcat, Jetty and Spring drop ";..." from a segment before routing.
        {"/v1/public/..;/admin",
         "';' (a path parameter, which some servers drop before routing; "
         "encode a literal ';' as %3B) at offset 13"},
        {"/v1/public/%2e%2e;/admin", "';' (a path parameter"},
        {"/v1/public/.;/admin", "';' (a path parameter"},
        {"/v1/admin;x=1/keys", "';' (a path parameter"},
        {"/v1/admin;/keys", "';' (a path parameter"},
        {"/;/v1/admin", "';' (a path parameter"},
        {"/v1/customers;jsessionid=1", "';' (a path parameter"},
        {"/a?x#frag", "'#' (fragments are never sent; encode it as %23) in the query at offset 4"},
        {"/a?x\r\n", "control byte 0x0D in the query at offset 4"},
        {"/a?x y", "raw space in the query at offset 4"},
        {std::string("/a?x\0", 5), "NUL byte in the query at offset 4"},
        {"/a?\xff", "non-ASCII byte 0xFF in the query at offset 3"},
        {"/" + std::string(kMaxRequestTargetBytes, 'a'), "over the limit of 8192"},
        // Encoding grows '|' threefold; the normalized form is bounded too.
        {"/" + std::string(3000, '|'), "normalized request target is 9001 bytes"},
    };
    for (const Refused& c : cases) {
        SCOPED_TRACE(c.raw.substr(0, 60));
        auto result = normalize_target(c.raw);
        ASSERT_FALSE(result.ok()) << "normalized to " << result->request_target();
        EXPECT_EQ(result.error().code, "path.invalid");
        EXPECT_NE(result.error().message.find(c.message_part), std::string::npos)
            << result.error().message;
        EXPECT_EQ(result.error().message.rfind("path: ", 0), 0u) << result.error().message;
    }
}

TEST(NormalizeTarget, EncodedSlashOptIn) {
    const PathOptions allow{.allow_encoded_slash = true};
    struct Case {
        std::string raw, path;
    };
    const std::vector<Case> cases = {
        {"/api/v4/projects/group%2fproject", "/api/v4/projects/group%2Fproject"},
        {"/a%5cb", "/a%5Cb"},
        // %2F is data, not a separator: it never becomes a segment boundary for dot removal.
        {"/a/..%2F..%2Fb", "/a/..%2F..%2Fb"},
        {"/a/b%2F../c", "/a/b%2F../c"},
        {"/a/b/..%2F", "/a/b/..%2F"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.raw);
        auto result = normalize_target(c.raw, allow);
        ASSERT_TRUE(result.ok()) << result.error().message;
        EXPECT_EQ(result->path, c.path);
    }
    // Raw backslash and %00 stay refused with the option.
    EXPECT_FALSE(normalize_target("/a\\b", allow).ok());
    EXPECT_FALSE(normalize_target("/a%00", allow).ok());
}

TEST(NormalizeTarget, ExactLimitAccepted) {
    const std::string raw = "/" + std::string(kMaxRequestTargetBytes - 1, 'a');
    auto result = normalize_target(raw);
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result->path, raw);
}

void expect_idempotent(const std::string& raw, const PathOptions& options) {
    auto first = normalize_target(raw, options);
    if (!first.ok()) return;
    const std::string sent = first->request_target();
    auto second = normalize_target(sent, options);
    ASSERT_TRUE(second.ok()) << raw << " -> " << sent << ": " << second.error().message;
    EXPECT_EQ(second->path, first->path) << raw;
    EXPECT_EQ(second->query, first->query) << raw;
    EXPECT_EQ(second->has_query, first->has_query) << raw;
    EXPECT_EQ(second->request_target(), sent) << raw;
}

TEST(NormalizeTarget, IdempotentOverEveryCase) {
    for (const Accepted& c : accepted_cases()) {
        expect_idempotent(c.raw, {});
        expect_idempotent(c.raw, {.allow_encoded_slash = true});
    }
    expect_idempotent("/" + std::string(2730, '|'), {});  // grows to just under the limit
    expect_idempotent("/a%2f%2e%2e%2F..", {.allow_encoded_slash = true});
}

// Exhaustive over short strings of the characters that interact: every target of up to five
// of these, after a leading '/'. Catches orderings a table misses (".%2e/", "/./../", ...).
TEST(NormalizeTarget, IdempotentAndCleanOverSmallAlphabet) {
    const std::vector<std::string> atoms = {"/",   ".",   "a", "%2e", "%2E", "%2F",
                                            "%41", "%7c", "|", "?",   ";",   "%3b"};
    std::vector<std::string> frontier = {"/"};
    std::size_t checked = 0;
    for (int depth = 0; depth < 5; ++depth) {
        std::vector<std::string> grown;
        for (const std::string& prefix : frontier) {
            for (const std::string& atom : atoms) grown.push_back(prefix + atom);
        }
        for (const std::string& raw : grown) {
            for (const bool allow : {false, true}) {
                const PathOptions options{.allow_encoded_slash = allow};
                auto result = normalize_target(raw, options);
                if (!result.ok()) continue;
                ++checked;
                const std::string& p = result->path;
                ASSERT_EQ(p.front(), '/') << raw;
                EXPECT_EQ(p.find("//"), std::string::npos) << raw << " -> " << p;
                EXPECT_EQ(p.find("/./"), std::string::npos) << raw << " -> " << p;
                EXPECT_EQ(p.find("/../"), std::string::npos) << raw << " -> " << p;
                EXPECT_FALSE(p.ends_with("/.") || p.ends_with("/..")) << raw << " -> " << p;
                EXPECT_EQ(p.find('?'), std::string::npos) << raw << " -> " << p;
                if (!allow) {
                    EXPECT_EQ(p.find("%2F"), std::string::npos) << raw << " -> " << p;
                }
                expect_idempotent(raw, options);
            }
        }
        frontier = std::move(grown);
    }
    EXPECT_GT(checked, 10000u);
}

}  // namespace
}  // namespace cloakroom::policy
