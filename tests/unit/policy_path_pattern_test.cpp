// PathPattern must agree with agent-creds' glob-to-regex semantics on normalized paths, refuse
// patterns no normalized path can match, and stay linear on adversarial patterns.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "policy/path_pattern.hpp"
#include "policy/request_path.hpp"

namespace cloakroom::policy {
namespace {

// agent-creds' construction, transcribed for the test only: QuoteMeta, then replace escaped
// "/**" by (?:/.*)?, remaining "**" by .*, each "*" by [^/]*, anchor. (RE2 and ECMAScript agree
// on this subset.)
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    std::string out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t hit = text.find(from, pos);
        if (hit == std::string::npos) break;
        out.append(text, pos, hit - pos);
        out += to;
        pos = hit + from.size();
    }
    out.append(text, pos);
    return out;
}

std::string agent_creds_regex(const std::string& glob) {
    std::string quoted;
    for (const char c : glob) {
        if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) quoted += '\\';
        quoted += c;
    }
    quoted = replace_all(quoted, "/\\*\\*", "(?:/.*)?");
    quoted = replace_all(quoted, "\\*\\*", ".*");
    quoted = replace_all(quoted, "\\*", "[^/]*");
    return "^" + quoted + "$";
}

PathPattern must_compile(const std::string& glob) {
    auto compiled = PathPattern::compile(glob);
    EXPECT_TRUE(compiled.ok()) << glob << ": " << compiled.error().message;
    return compiled.ok() ? std::move(*compiled) : *PathPattern::compile("/");
}

nlohmann::json load_vectors() {
    std::ifstream in(std::string(CLOAKROOM_VECTORS_DIR) + "/agent_creds_tokens.json");
    EXPECT_TRUE(in.good());
    return nlohmann::json::parse(in);
}

// Sample paths for a pattern: every way of filling its star runs with "", "a", "a/b", "x.y",
// plus a fixed set of near misses, prefixes and extensions.
std::set<std::string> sample_paths(const std::string& glob) {
    std::vector<std::string> pieces = {""};
    std::vector<bool> is_star = {false};
    for (const char c : glob) {
        const bool star = c == '*';
        if (star != is_star.back()) {
            pieces.emplace_back();
            is_star.push_back(star);
        }
        pieces.back() += c;
    }
    std::set<std::string> out = {glob};
    std::vector<std::string> partial = {""};
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        std::vector<std::string> grown;
        for (const std::string& prefix : partial) {
            if (!is_star[i]) {
                grown.push_back(prefix + pieces[i]);
                continue;
            }
            for (const char* fill : {"", "a", "a/b", "x.y", "/"}) grown.push_back(prefix + fill);
        }
        partial = std::move(grown);
        if (partial.size() > 4000) partial.resize(4000);
    }
    for (const std::string& p : partial) {
        out.insert(p);
        out.insert(p + "/");
        out.insert(p + "/z");
        out.insert(p + "z");
        if (p.size() > 1) out.insert(p.substr(0, p.size() - 1));
    }
    for (const char* p : {"/",
                          "/v1",
                          "/v1/",
                          "/v1/customers",
                          "/v1/customers/",
                          "/v1/customers/cus_1",
                          "/v1/customers/cus_1/x",
                          "/v1/customersX",
                          "/v1/refunds",
                          "/v1/a/refunds",
                          "/v1/a/b/refunds",
                          "/v1refunds",
                          "/v1/refundsX",
                          "/files/report",
                          "/files/report-q1/x",
                          "/files/repor",
                          "/repos/o/r/pulls",
                          "/repos/o/r/x/pulls",
                          "/repos/o/pulls",
                          "/v1/a.b+c",
                          "/v1/aXb+c",
                          "/v1/a.bbc",
                          "/v1/(x)|y",
                          "/v1/x",
                          "/v1/y",
                          "/v1/charges",
                          "/v1/charges/ch_1",
                          "/v1/chargesX",
                          "/repos",
                          "/reposX",
                          "/p00/",
                          "/p00/a",
                          "/p00/a/b",
                          "/x0",
                          "/x0/",
                          "/x00"}) {
        out.insert(p);
    }
    return out;
}

// Compares the matcher with the regex on every sample that is already in normalized form (the
// regex sees the raw path, the matcher the normalized one; they only coincide when equal).
void expect_same_as_regex(const std::string& glob, const std::string& regex_text) {
    SCOPED_TRACE(glob);
    const PathPattern pattern = must_compile(glob);
    const std::regex regex(regex_text, std::regex::ECMAScript);
    std::size_t compared = 0;
    for (const std::string& sample : sample_paths(glob)) {
        auto normalized = normalize_target(sample);
        if (!normalized.ok() || normalized->has_query || normalized->path != sample) continue;
        ++compared;
        EXPECT_EQ(pattern.matches(sample), std::regex_match(sample, regex)) << "path " << sample;
    }
    EXPECT_GT(compared, 3u);
}

TEST(PathPattern, AgreesWithEveryVectorRegex) {
    const nlohmann::json vectors = load_vectors();
    const auto& table = vectors.at("path_glob_to_regex");
    ASSERT_GE(table.size(), 30u);
    for (const auto& entry : table) {
        const std::string glob = entry.at("pattern");
        const std::string regex = entry.at("regex");
        // Our transcription of the construction reproduces the reference regex exactly...
        EXPECT_EQ(agent_creds_regex(glob), regex) << glob;
        // ...and the matcher agrees with it on every normalized sample.
        expect_same_as_regex(glob, regex);
    }
}

// Differential test on random patterns over the characters that matter, against the regex.
TEST(PathPattern, AgreesWithRegexOnRandomPatterns) {
    std::mt19937 rng(20240611);
    const std::string pattern_alphabet = "/**ab.";
    const std::string path_alphabet = "/ab.";
    std::size_t patterns = 0;
    std::size_t comparisons = 0;
    while (patterns < 1500) {
        std::string glob = "/";
        const std::size_t length = rng() % 9;
        for (std::size_t i = 0; i < length; ++i) glob += pattern_alphabet[rng() % 6];
        auto compiled = PathPattern::compile(glob);
        if (!compiled.ok()) continue;  // '//' or dot segments: covered by the refusal table
        ++patterns;
        const std::regex regex(agent_creds_regex(glob), std::regex::ECMAScript);
        for (int k = 0; k < 40; ++k) {
            std::string raw = "/";
            const std::size_t path_length = rng() % 8;
            for (std::size_t i = 0; i < path_length; ++i) raw += path_alphabet[rng() % 4];
            auto normalized = normalize_target(raw);
            ASSERT_TRUE(normalized.ok());
            const std::string& path = normalized->path;
            ++comparisons;
            ASSERT_EQ(compiled->matches(path), std::regex_match(path, regex))
                << "pattern " << glob << " path " << path;
        }
    }
    EXPECT_EQ(comparisons, 60000u);
}

struct MatchCase {
    std::string glob;
    std::vector<std::string> match;
    std::vector<std::string> no_match;
};

TEST(PathPattern, SemanticsTable) {
    const std::vector<MatchCase> cases = {
        {"/v1/customers", {"/v1/customers"}, {"/v1/customers/", "/v1/customersX", "/v1/custom"}},
        {"/v1/customers/*",
         {"/v1/customers/cus_1", "/v1/customers/"},
         {"/v1/customers", "/v1/customers/a/b", "/v1/customers/a/"}},
        {"/x/**", {"/x", "/x/", "/x/a", "/x/a/b/c"}, {"/xy", "/xy/a", "/", "/y/x"}},
        {"/**", {"/", "/a", "/a/b/"}, {}},
        {"**", {"/", "/a/b"}, {}},
        {"*", {}, {"/", "/a"}},  // '*' never crosses '/', and every path has one
        {"*/a", {"/a"}, {"/b/a", "/a/a"}},
        {"/v1/**/refunds",
         {"/v1/refunds", "/v1/a/refunds", "/v1/a/b/refunds"},
         {"/v1refunds", "/v1/refunds/x", "/v1/arefunds"}},
        {"/files/report**", {"/files/report", "/files/report-1", "/files/report/a/b"}, {"/files/"}},
        {"/a**b", {"/ab", "/a/x/b", "/axb"}, {"/a", "/ba"}},
        // '/**' anywhere is agent-creds' (?:/.*)?, also before a literal: "/a/**b" takes "/ab".
        {"/a/**b", {"/ab", "/a/b", "/a/x/yb"}, {"/a/x", "/axb"}},
        {"/files/**.pdf", {"/files.pdf", "/files/a/b.pdf"}, {"/files/a.txt", "/filesX.pdf"}},
        {"/repos/*/*/pulls", {"/repos/o/r/pulls"}, {"/repos/o/r/x/pulls", "/repos/o/pulls"}},
        {"/v1/a.b+c", {"/v1/a.b+c"}, {"/v1/aXb+c", "/v1/a.bbc"}},
        {"/v1/(x)|y", {"/v1/(x)%7Cy"}, {"/v1/x", "/v1/y"}},
        {"/v1/caf%c3%a9", {"/v1/caf%C3%A9"}, {"/v1/caf%c3%a9", "/v1/cafe"}},
        {"/v1/%7euser", {"/v1/~user"}, {"/v1/%7Euser"}},
        {"/a%3ab/*", {"/a%3Ab/x"}, {"/a:b/x"}},  // reserved escapes are not decoded (RFC 3986)
        {"/", {"/"}, {"/a"}},
        {"/a/", {"/a/"}, {"/a"}},
        {"/.well-known/*", {"/.well-known/x"}, {"/.well-known/x/y"}},
        {"/a/.*", {"/a/.git", "/a/."}, {"/a/x", "/a/.x/", "/a/.git/config"}},
    };
    for (const MatchCase& c : cases) {
        SCOPED_TRACE(c.glob);
        const PathPattern pattern = must_compile(c.glob);
        for (const std::string& path : c.match) EXPECT_TRUE(pattern.matches(path)) << path;
        for (const std::string& path : c.no_match) EXPECT_FALSE(pattern.matches(path)) << path;
    }
}

TEST(PathPattern, StarNeverCrossesSlashDoubleStarDoes) {
    const PathPattern star = must_compile("/a/*/c");
    const PathPattern any = must_compile("/a/**/c");
    const PathPattern inner = must_compile("/a/b**c");
    for (const std::string path : {"/a/x/y/c", "/a/x/y/z/c"}) {
        EXPECT_FALSE(star.matches(path)) << path;
        EXPECT_TRUE(any.matches(path)) << path;
    }
    EXPECT_TRUE(star.matches("/a/x/c"));
    EXPECT_TRUE(inner.matches("/a/b/x/y/c"));
    EXPECT_TRUE(inner.matches("/a/bc"));
}

// The agent-creds escapes (docs/architecture.md, "Lessons from the peers") end at normalization:
// what matches is the normalized path, the same one that is sent upstream.
TEST(PathPattern, EscapeAttemptsDoNotMatchAfterNormalization) {
    const PathPattern customers = must_compile("/v1/customers/**");
    const PathPattern one_customer = must_compile("/v1/customers/*");
    for (const std::string raw :
         {"/v1/customers/../transfers", "/v1/customers/%2e%2e/transfers",
          "/v1/customers/%2E./transfers", "/v1/customers/.%2E/transfers",
          "/v1/customers/x/../../transfers", "/v1/customers//../../transfers",
          "/v1/customers/./../transfers"}) {
        SCOPED_TRACE(raw);
        auto normalized = normalize_target(raw);
        ASSERT_TRUE(normalized.ok()) << normalized.error().message;
        EXPECT_FALSE(normalized->path.starts_with("/v1/customers")) << normalized->path;
        EXPECT_FALSE(customers.matches(normalized->path));
        EXPECT_FALSE(one_customer.matches(normalized->path));
    }
    // Encoded separators cannot smuggle a '..' past the check: they are refused outright.
    for (const std::string raw : {"/v1/customers/..%2Ftransfers", "/v1/customers/..%5Ctransfers",
                                  "/v1/customers/..\\transfers"}) {
        EXPECT_FALSE(normalize_target(raw).ok()) << raw;
    }
    // '//' cannot make '*' span two segments either.
    auto doubled = normalize_target("/v1/customers//x");
    ASSERT_TRUE(doubled.ok());
    EXPECT_EQ(doubled->path, "/v1/customers/x");
    EXPECT_TRUE(one_customer.matches(doubled->path));
    // A query never reaches the matcher, so "?/../" games and "?x" suffixes change nothing.
    auto queried = normalize_target("/v1/customers?/../transfers");
    ASSERT_TRUE(queried.ok());
    EXPECT_EQ(queried->path, "/v1/customers");
    EXPECT_TRUE(must_compile("/v1/customers").matches(queried->path));
}

TEST(PathPattern, RefusesPatternsNoNormalizedPathCanMatch) {
    struct Case {
        std::string glob, message_part;
    };
    const std::vector<Case> cases = {
        {"", "empty"},
        {"v1/x", "must start with '/'"},
        {"a*", "must start with '/'"},
        {"/v1//x", "contains '//'"},
        {"//**", "contains '//'"},
        {"/v1/**//x", "contains '//'"},
        {"/v1/../x", "dot segment '..'"},
        {"/v1/./x", "dot segment '.'"},
        {"/v1/%2e%2e/x", "dot segment '..'"},
        {"/v1/.%2E", "dot segment '..'"},
        {"/v1/..", "dot segment '..'"},
        {"/.", "dot segment '.'"},
        {"/v1/a%2Fb", "encoded slash %2F at offset 5"},
        {"/v1/a%5cb", "encoded backslash %5C"},
        {"/v1/a\\b", "raw backslash"},
        {"/v1/x?y=1", "'?' at offset 5"},
        {"/v1/x#y", "'#'"},
        {"/v1/public/..;/admin", "';' (a path parameter"},  // no normalized path has a raw ';'
        {"/v1/admin;x/**", "';' (a path parameter"},
        {std::string("/v1/\0", 5), "NUL byte at offset 4"},
        {"/v1/%00", "encoded NUL"},
        {"/v1/\n", "control byte 0x0A"},
        {"/v1/a b", "raw space"},
        {"/v1/caf\xc3\xa9", "non-ASCII byte 0xC3"},
        {"/v1/%zz", "malformed percent escape"},
        {"/a/***", "run of three or more '*'"},
        {"/a****", "run of three or more '*'"},
        {"/v1/%", "truncated percent escape"},
        {"/" + std::string(kMaxPatternBytes, 'a'), "over the limit"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.glob.substr(0, 40));
        auto result = PathPattern::compile(c.glob);
        ASSERT_FALSE(result.ok());
        EXPECT_EQ(result.error().code, "pattern.invalid");
        EXPECT_NE(result.error().message.find(c.message_part), std::string::npos)
            << result.error().message;
        EXPECT_EQ(result.error().message.rfind("pattern: ", 0), 0u) << result.error().message;
    }
}

TEST(PathPattern, EncodedSlashPatternsNeedTheOption) {
    const PathOptions allow{.allow_encoded_slash = true};
    auto pattern = PathPattern::compile("/api/v4/projects/*/issues", allow);
    ASSERT_TRUE(pattern.ok());
    auto path = normalize_target("/api/v4/projects/group%2fproject/issues", allow);
    ASSERT_TRUE(path.ok());
    EXPECT_TRUE(pattern->matches(path->path));  // %2F is data: one segment for '*'
    auto exact = PathPattern::compile("/api/v4/projects/group%2fproject", allow);
    ASSERT_TRUE(exact.ok());
    EXPECT_EQ(exact->canonical_text(), "/api/v4/projects/group%2Fproject");
    EXPECT_EQ(exact->text(), "/api/v4/projects/group%2fproject");
    EXPECT_FALSE(PathPattern::compile("/api/v4/projects/group%2fproject").ok());
}

// Each pattern and path below would take exponential time in a naive backtracking matcher.
TEST(PathPattern, PathologicalPatternsStayFast) {
    std::string many_any;
    for (int i = 0; i < 200; ++i) many_any += "/**";
    many_any += "/x";
    std::string many_star = "/";
    for (int i = 0; i < 300; ++i) many_star += "*a";
    many_star += "b";
    std::string inner_any = "/";
    for (int i = 0; i < 300; ++i) inner_any += "a**";
    inner_any += "b";
    const std::string long_segments(kMaxRequestTargetBytes - 1, 'a');
    std::string long_path;
    while (long_path.size() + 2 < kMaxRequestTargetBytes) long_path += "/a";

    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(must_compile(many_any).matches(long_path));
    EXPECT_TRUE(must_compile(many_any).matches(long_path + "/x"));
    EXPECT_FALSE(must_compile(many_star).matches("/" + long_segments));
    EXPECT_FALSE(must_compile(inner_any).matches("/" + long_segments));
    EXPECT_FALSE(must_compile(inner_any).matches(long_path));
    EXPECT_FALSE(must_compile("/**/**/**/**/**/**/**/**/x").matches(long_path));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // About 130 ms optimized and 2 s under ASan on a shared core; a backtracking matcher would
    // need longer than the age of the universe, so a loose bound still tells the two apart.
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 10000);
}

}  // namespace
}  // namespace cloakroom::policy
