#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "db/redis/filter.hpp"

namespace cloakroom::db::redis {
namespace {

using Lists = std::vector<std::vector<std::string>>;

struct Filtered {
    bool ok = true;
    std::string upstream;
};

// Feeds `input` in chunks of `chunk` bytes (0: all at once).
Filtered run(const CommandPolicy& policy, std::string_view input, std::size_t chunk = 0) {
    CommandFilter filter(policy);
    Filtered result;
    if (chunk == 0) chunk = input.size() + 1;
    for (std::size_t i = 0; i < input.size() && result.ok; i += chunk) {
        result.ok = filter.feed(input.substr(i, chunk), result.upstream);
    }
    return result;
}

// What a filter did with a whole input: what it sent and what it counted.
struct Outcome {
    bool ok = true;
    std::string upstream;
    std::uint64_t commands = 0;
    std::uint64_t refused = 0;
    std::vector<std::string> refused_names;
    std::string error;
    bool error_in_band = false;
    bool at_boundary = false;
    bool operator==(const Outcome&) const = default;
};

// Feeds the pieces of `input` cut at `cuts` (ascending).
Outcome outcome(const CommandPolicy& policy, std::string_view input,
                const std::vector<std::size_t>& cuts) {
    CommandFilter filter(policy);
    Outcome result;
    std::size_t from = 0;
    for (std::size_t k = 0; k <= cuts.size() && result.ok; ++k) {
        const std::size_t to = k < cuts.size() ? cuts[k] : input.size();
        result.ok = filter.feed(input.substr(from, to - from), result.upstream);
        from = to;
    }
    result.commands = filter.commands();
    result.refused = filter.refused();
    result.refused_names = filter.refused_names();
    result.error = filter.error();
    result.error_in_band = filter.error_in_band();
    result.at_boundary = filter.at_boundary();
    return result;
}

// Feeds `input` split at every single position, and byte by byte: the output must not depend on
// how the bytes arrive. (Whole commands in one chunk take the filter's fast path, commands split
// across chunks its incremental states: both must do the same.)
void expect_split_invariant(const CommandPolicy& policy, const std::string& input) {
    const Outcome whole = outcome(policy, input, {});
    std::vector<std::size_t> every;
    for (std::size_t cut = 1; cut < input.size(); ++cut) every.push_back(cut);
    EXPECT_EQ(outcome(policy, input, every), whole) << "byte by byte";
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        EXPECT_EQ(outcome(policy, input, {cut}), whole) << "cut at " << cut;
    }
}

std::string cmd(std::vector<std::string> args) {
    return encode_command(args);
}

// A tiny stand-in for redis-server: answers every command of `upstream` in order, "-ERR unknown
// command" (redis-server 7's wording) for the names Cloakroom invents, "+OK" otherwise.
std::string fake_server(std::string_view upstream) {
    std::string replies;
    while (!upstream.empty()) {
        const ParsedCommand parsed = parse_command(upstream, kSessionLimits);
        if (parsed.status != ParseStatus::Complete) break;
        upstream.remove_prefix(parsed.consumed);
        if (parsed.args.empty()) continue;
        if (parsed.args[0].rfind("cloakroom.", 0) == 0) {
            replies +=
                "-ERR unknown command '" + parsed.args[0] + "', with args beginning with: \r\n";
        } else {
            replies += "+" + parsed.args[0] + "\r\n";
        }
    }
    return replies;
}

std::string rewrite(std::string_view replies, std::size_t chunk = 0) {
    ReplyRewriter rewriter;
    std::string out;
    if (chunk == 0) chunk = replies.size() + 1;
    for (std::size_t i = 0; i < replies.size(); i += chunk)
        rewriter.feed(replies.substr(i, chunk), out);
    return out;
}

TEST(DbRedisFilter, UnrestrictedSessionsForwardBytesUnchanged) {
    const std::string input = cmd({"SET", "k", "v"}) + cmd({"GET", "k"}) +
                              cmd({"CLIENT", "KILL", "ID", "7"}) + cmd({"EVAL", "return 1", "0"});
    const Filtered out = run(CommandPolicy(), input);
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.upstream, input);
    expect_split_invariant(CommandPolicy(), input);
}

TEST(DbRedisFilter, ReauthenticationNeverReachesTheUpstream) {
    const std::string input = cmd({"GET", "a"}) + cmd({"AUTH", "other", "acm_token"}) +
                              cmd({"HELLO", "3", "AUTH", "other", "secret"}) + cmd({"RESET"}) +
                              "auth inline_secret\r\n" + cmd({"GET", "b"});
    const Filtered out = run(CommandPolicy(), input);
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.upstream.find("acm_token"), std::string::npos);
    EXPECT_EQ(out.upstream.find("secret"), std::string::npos);
    const std::string replies = rewrite(fake_server(out.upstream));
    EXPECT_EQ(
        replies,
        "+GET\r\n"
        "-NOPERM Cloakroom: AUTH after login is refused; connect again to use another token\r\n"
        "-NOPERM Cloakroom: HELLO AUTH after login is refused; connect again to use another "
        "token\r\n"
        "-NOPERM Cloakroom: RESET is refused (it would log the connection out)\r\n"
        "-NOPERM Cloakroom: AUTH after login is refused; connect again to use another token\r\n"
        "+GET\r\n");
    expect_split_invariant(CommandPolicy(), input);
}

TEST(DbRedisFilter, PipelinedRefusalsKeepTheirPlace) {
    const CommandPolicy policy(Lists{{"@read"}});
    const std::string input = cmd({"GET", "a"}) + cmd({"SET", "a", "1"}) + cmd({"MGET", "a", "b"}) +
                              "DEL a\r\n" + cmd({"PING"}) + cmd({"HGETALL", "h"});
    const Filtered out = run(policy, input);
    ASSERT_TRUE(out.ok);
    EXPECT_EQ(fake_server(out.upstream).substr(0, 6), "+GET\r\n");
    EXPECT_EQ(rewrite(fake_server(out.upstream)),
              "+GET\r\n"
              "-NOPERM Cloakroom: this token does not allow 'SET'\r\n"
              "+MGET\r\n"
              "-NOPERM Cloakroom: this token does not allow 'DEL'\r\n"
              "+PING\r\n"
              "+HGETALL\r\n");
    expect_split_invariant(policy, input);
}

TEST(DbRedisFilter, RefusedValuesAreNeitherForwardedNorBuffered) {
    const CommandPolicy policy(Lists{{"GET"}});
    const std::string big(1 << 20, 'x');
    const std::string head =
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + std::to_string(big.size()) + "\r\n";
    CommandFilter filter(policy);
    std::string out;
    ASSERT_TRUE(filter.feed(head, out));
    // Refused as soon as the name arrived: the refusal is already upstream.
    EXPECT_EQ(out, refusal_command("NOPERM", "Cloakroom: this token does not allow 'SET'"));
    out.clear();
    for (std::size_t i = 0; i < big.size(); i += 4096) {
        ASSERT_TRUE(filter.feed(std::string_view(big).substr(i, 4096), out));
    }
    ASSERT_TRUE(filter.feed("\r\n" + cmd({"GET", "k"}), out));
    EXPECT_EQ(out, cmd({"GET", "k"}));
    EXPECT_EQ(filter.refused(), 1u);
    EXPECT_EQ(filter.commands(), 2u);
    EXPECT_EQ(filter.refused_names(), std::vector<std::string>{"SET"});
}

TEST(DbRedisFilter, AllowedValuesStreamThrough) {
    const CommandPolicy policy(Lists{{"@write"}});
    const std::string head = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n";
    CommandFilter filter(policy);
    std::string out;
    ASSERT_TRUE(filter.feed(head, out));
    EXPECT_EQ(out, head);
    ASSERT_TRUE(filter.feed(std::string(1000, 'v'), out));
    EXPECT_EQ(out.size(), head.size() + 1000);  // passed on before the value is complete
}

TEST(DbRedisFilter, SubcommandsAreCheckedWhenTheListNeedsThem) {
    const CommandPolicy policy(Lists{{"CLIENT|SETNAME", "GET"}});
    const std::string input = cmd({"CLIENT", "SETNAME", "me"}) +
                              cmd({"client", "kill", "ID", "1"}) + cmd({"CLIENT"}) +
                              cmd({"GET", "k"});
    const Filtered out = run(policy, input);
    ASSERT_TRUE(out.ok);
    EXPECT_EQ(rewrite(fake_server(out.upstream)),
              "+CLIENT\r\n"
              "-NOPERM Cloakroom: this token does not allow 'CLIENT|KILL'\r\n"
              "-NOPERM Cloakroom: this token does not allow 'CLIENT'\r\n"
              "+GET\r\n");
    expect_split_invariant(policy, input);
}

TEST(DbRedisFilter, HugeNamesAndArgumentsAreDecidedWithoutWaiting) {
    const std::string name(5000, 'A');
    const std::string input = cmd({name, "x"}) + cmd({"CLIENT", std::string(5000, 'B')}) +
                              cmd({"HELLO", "3", "SETNAME", std::string(5000, 'n')});
    const Filtered open = run(CommandPolicy(), input);
    ASSERT_TRUE(open.ok);
    // Unrestricted: unknown names pass (the upstream answers them), HELLO with an argument too
    // long to check does not.
    EXPECT_EQ(open.upstream.substr(
                  0, input.size() - cmd({"HELLO", "3", "SETNAME", std::string(5000, 'n')}).size()),
              cmd({name, "x"}) + cmd({"CLIENT", std::string(5000, 'B')}));
    EXPECT_NE(open.upstream.find("cloakroom.refused:NOPERM Cloakroom: HELLO with these arguments"),
              std::string::npos);
    expect_split_invariant(CommandPolicy(), input);
    const CommandPolicy restricted(Lists{{"@all"}});
    const Filtered closed = run(restricted, cmd({name, "x"}));
    EXPECT_EQ(closed.upstream.find(name), std::string::npos);
    EXPECT_EQ(rewrite(fake_server(closed.upstream)),
              "-NOPERM Cloakroom: this token does not allow '" + std::string(40, 'A') + "...'\r\n");
}

TEST(DbRedisFilter, HelloWithManyArgumentsIsRefused) {
    std::vector<std::string> args{"HELLO", "3"};
    for (int i = 0; i < 10; ++i) args.push_back("SETNAME");
    const Filtered out = run(CommandPolicy(), cmd(args));
    EXPECT_EQ(rewrite(fake_server(out.upstream)),
              "-NOPERM Cloakroom: HELLO with these arguments is refused\r\n");
}

TEST(DbRedisFilter, InlineCommandsAreReencoded) {
    const Filtered out = run(CommandPolicy(), "SET k \"a b\"\r\nGET k\n\r\n");
    ASSERT_TRUE(out.ok);
    EXPECT_EQ(out.upstream, cmd({"SET", "k", "a b"}) + cmd({"GET", "k"}));
    expect_split_invariant(CommandPolicy(), "SET k \"a b\"\r\nGET k\n\r\n");
}

TEST(DbRedisFilter, EmptyCommandsAreDropped) {
    const Filtered out = run(CommandPolicy(), "*0\r\n*-1\r\n\r\n" + cmd({"PING"}));
    ASSERT_TRUE(out.ok);
    EXPECT_EQ(out.upstream, cmd({"PING"}));
}

TEST(DbRedisFilter, ProtocolErrorAtABoundaryIsAnsweredInOrder) {
    CommandFilter filter{CommandPolicy()};
    std::string out;
    EXPECT_FALSE(filter.feed(cmd({"GET", "a"}) + "*1\r\n:1\r\n", out));
    EXPECT_TRUE(filter.failed());
    EXPECT_TRUE(filter.error_in_band());
    EXPECT_EQ(filter.error(), "Protocol error: expected '$', got ':'");
    ReplyRewriter rewriter;
    std::string replies;
    rewriter.feed(fake_server(out), replies);
    EXPECT_EQ(replies, "+GET\r\n-ERR Protocol error: expected '$', got ':'\r\n");
    EXPECT_TRUE(rewriter.closing());
    EXPECT_FALSE(filter.feed(cmd({"GET", "b"}), out));  // stays failed
}

TEST(DbRedisFilter, ProtocolErrorInsideAForwardedCommandIsNotInBand) {
    CommandFilter filter{CommandPolicy()};
    std::string out;
    EXPECT_FALSE(filter.feed("*2\r\n$3\r\nGET\r\n$1\r\nab", out));
    EXPECT_FALSE(filter.error_in_band());
    EXPECT_EQ(filter.error(), "Protocol error: expected CRLF after an argument");
    EXPECT_EQ(out, "*2\r\n$3\r\nGET\r\n$1\r\na");
}

// Every shape of command the policy looks into, whole in one chunk (the fast path) and split
// anywhere (the incremental states): same bytes upstream, same refusals and counts, and the same
// protocol error (in band or not) when the pipeline ends in a malformed command.
TEST(DbRedisFilter, WholeCommandsAreCheckedLikeStreamedOnes) {
    const std::vector<std::string> commands = {
        cmd({"GET", "k"}),
        cmd({"set", "k", "v"}),
        cmd({"HELLO", "3"}),
        cmd({"HELLO", "3", "auth", "u", "p"}),
        cmd({"HELLO", "3", "SETNAME", "a", "SETNAME", "b", "SETNAME", "c", "x"}),
        cmd({"CONFIG", "GET", "save"}),
        cmd({"CONFIG", "GET", "save", "requirepass"}),
        cmd({"CONFIG", "GET", std::string(256, '*')}),
        cmd({"CONFIG", "GET", std::string(257, 's')}),
        cmd({"ACL", "LIST"}),
        cmd({"ACL", std::string(257, 'L')}),
        cmd({"CLIENT", "SETNAME", "me"}),
        cmd({"client", "kill", "ID", "1"}),
        cmd({"CLIENT"}),
        cmd({std::string(64, 'G')}),
        cmd({std::string(65, 'G'), "x"}),
        cmd({"", "x"}),
        cmd({"GET", ""}),
        cmd({"cloakroom.refused:NOPERM x"}),
        cmd({"AUTH", "p"}),
        cmd({"reset"}),
        "*0\r\n*-1\r\n",
        "GET inline\r\n",
        cmd({"PING"}),
    };
    std::string pipeline;
    for (const auto& command : commands) pipeline += command;
    const std::vector<std::string> endings = {
        "", "*1\r\n:1\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nab", "*x\r\n", "*1\r\n$-1\r\n",
        // header lines the fast path must refuse as the incremental states do
        "*01\r\n$3\r\nGET\r\n", "*1\r\n$03\r\nGET\r\n", "*1\r\n$3 \r\nGET\r\n", "*-0\r\n",
        "*1\r\n$-0\r\n", "*1\r\n$1234567890123456789\r\n", "*1\r\n$3\n\r\nGET\r\n",
        "*1\r\n$\r\nGET\r\n",
        // whole in size, but no CRLF where an argument ends
        "*2\r\n$3\r\nGET\r\n$1\r\nabc\r\n", "*1\r\n$4\r\nPINGxy" + cmd({"PING"}), "*1\r\n$3\r\nGET",
        "*2\r\n$3\r\nGET\r\n$1"};
    const std::vector<CommandPolicy> policies = {
        CommandPolicy(),
        CommandPolicy(Lists{{"@read", "SET", "CLIENT|SETNAME", "HELLO", "CONFIG"}}),
        CommandPolicy(Lists{{"@all"}, {"GET", "CONFIG|GET", "ACL", "AUTH", std::string(64, 'G')}})};
    for (const CommandPolicy& policy : policies) {
        for (const std::string& ending : endings) {
            SCOPED_TRACE(ending);
            expect_split_invariant(policy, pipeline + ending);
        }
    }
    // The fast path counts like the incremental one.
    const Outcome whole = outcome(policies[1], pipeline, {});
    EXPECT_TRUE(whole.ok);
    EXPECT_TRUE(whole.at_boundary);
    EXPECT_EQ(whole.commands, commands.size() - 1);  // "*0" and "*-1" run nothing
    EXPECT_GT(whole.refused, 5u);
    EXPECT_LT(whole.refused, whole.commands - 5);
}

TEST(DbRedisFilter, ProtocolErrors) {
    for (const std::string& input : std::vector<std::string>{
             "*x\r\n", "*1\r\n$x\r\n", "*1\r\n$-1\r\n", "SET \"a\r\n", std::string(70000, 'a'),
             "*" + std::string(50, '9'), "*1\r\n$600000000\r\n"}) {
        CommandFilter filter{CommandPolicy()};
        std::string out;
        EXPECT_FALSE(filter.feed(input, out)) << input.substr(0, 20);
        EXPECT_EQ(filter.error().rfind("Protocol error: ", 0), 0u);
        EXPECT_TRUE(filter.error_in_band());
    }
}

TEST(DbRedisFilter, RefusalNamesFitRedisQuote) {
    const std::string marker = refusal_command("NOPERM", std::string(300, 'm'));
    const ParsedCommand parsed = parse_command(marker, kSessionLimits);
    ASSERT_EQ(parsed.status, ParseStatus::Complete);
    ASSERT_EQ(parsed.args.size(), 1u);
    EXPECT_EQ(parsed.args[0].size(), 128u);
    EXPECT_EQ(parse_command(refusal_command("NOPERM", "a\r\nb"), kSessionLimits).args[0],
              "cloakroom.refused:NOPERM a  b");
}

TEST(DbRedisRewriter, RewritesOnlyTopLevelRefusals) {
    const std::string refusal =
        "-ERR unknown command 'cloakroom.refused:NOPERM Cloakroom: no 'SET'', with args "
        "beginning with: \r\n";
    const std::string replies = "+OK\r\n" + refusal + "$" + std::to_string(refusal.size()) +
                                "\r\n" + refusal + "\r\n" + "*2\r\n" + refusal + ":1\r\n" +
                                "-ERR unknown command 'FOO', with args beginning with: \r\n" +
                                "-ERR unknown command `cloakroom.refused:NOPERM old`, with args "
                                "beginning with: \r\n" +
                                ">2\r\n+a\r\n" + refusal + "|1\r\n+k\r\n+v\r\n" + refusal;
    const std::string expected =
        "+OK\r\n-NOPERM Cloakroom: no 'SET'\r\n$" + std::to_string(refusal.size()) + "\r\n" +
        refusal + "\r\n" + "*2\r\n" + refusal + ":1\r\n" +
        "-ERR unknown command 'FOO', with args beginning with: \r\n" + "-NOPERM old\r\n" +
        ">2\r\n+a\r\n" + refusal + "|1\r\n+k\r\n+v\r\n" + "-NOPERM Cloakroom: no 'SET'\r\n";
    EXPECT_EQ(rewrite(replies), expected);
    for (std::size_t chunk = 1; chunk < 12; ++chunk) {
        EXPECT_EQ(rewrite(replies, chunk), expected) << chunk;
    }
    for (std::size_t cut = 1; cut < replies.size(); ++cut) {
        ReplyRewriter rewriter;
        std::string out;
        rewriter.feed(std::string_view(replies).substr(0, cut), out);
        rewriter.feed(std::string_view(replies).substr(cut), out);
        EXPECT_EQ(out, expected) << cut;
    }
}

TEST(DbRedisRewriter, LeavesLookalikesAlone) {
    for (const std::string& reply : std::vector<std::string>{
             std::string(
                 "-ERR unknown command 'cloakroom.refused:nocode', with args beginning with: \r\n"),
             std::string("-ERR unknown command 'cloakroom.refused:NOPERM no close quote\r\n"),
             std::string(
                 "-ERR unknown command 'cloakroom.other:NOPERM x', with args beginning with: \r\n"),
             std::string("-ERR unknown command 'cloakroom.refused:NOPERM x'\n"),
             "-ERR unknown command 'cloakroom.refused:NOPERM " + std::string(600, 'x') + "'\r\n",
             std::string("+ERR unknown command 'cloakroom.refused:NOPERM x', with args beginning "
                         "with: \r\n")}) {
        EXPECT_EQ(rewrite(reply), reply);
        EXPECT_EQ(rewrite(reply, 1), reply);
    }
}

TEST(DbRedisRewriter, PassesNothingMoreOnceFramingIsLost) {
    // Neither a refusal nor a secret could be found in what follows: the session ends there.
    const std::string refusal =
        "-ERR unknown command 'cloakroom.refused:NOPERM x', with args beginning with: \r\n";
    ReplyRewriter rewriter;
    std::string out;
    rewriter.feed("+OK\r\n?garbage\r\n" + refusal, out);
    EXPECT_TRUE(rewriter.lost_framing());
    EXPECT_EQ(out, "+OK\r\n");
    ReplyRewriter bad_blob;
    out.clear();
    bad_blob.feed("$1\r\nabc\r\n" + refusal, out);
    EXPECT_TRUE(bad_blob.lost_framing());
    EXPECT_EQ(out, "$1\r\na");
}

std::string nested(std::size_t depth, std::string_view inner) {
    std::string out;
    for (std::size_t i = 0; i < depth; ++i) out += "*1\r\n";
    return out + std::string(inner);
}

TEST(DbRedisRewriter, RefusalsKeepTheirPublicFormAfterDeeplyNestedReplies) {
    // A recursive Lua table returned by EVAL nests thousands deep; refusals after it must still
    // read -NOPERM, not the internal "cloakroom.refused:" form.
    const std::string refusal =
        "-ERR unknown command 'cloakroom.refused:NOPERM no', with args beginning with: \r\n";
    for (const std::size_t depth : {1000u, 1025u, 5000u, 200000u}) {
        ReplyRewriter rewriter;
        std::string out;
        const std::string reply = nested(depth, ":1\r\n");
        rewriter.feed(reply + "*2\r\n" + nested(depth, "$1\r\nx\r\n") + ":2\r\n" + refusal, out);
        EXPECT_FALSE(rewriter.lost_framing()) << depth;
        EXPECT_EQ(rewriter.depth(), 0u);
        EXPECT_EQ(out, reply + "*2\r\n" + nested(depth, "$1\r\nx\r\n") + ":2\r\n-NOPERM no\r\n")
            << depth;
    }
    // Two elements per level, the first nested further: the levels part as they complete.
    std::string wide;
    for (std::size_t i = 0; i < 3000; ++i) wide += "*2\r\n";
    wide += ":1\r\n:2\r\n";                                   // the innermost level
    for (std::size_t i = 0; i < 2999; ++i) wide += ":3\r\n";  // each outer level's second
    ReplyRewriter rewriter;
    std::string out;
    rewriter.feed(wide, out);
    EXPECT_FALSE(rewriter.lost_framing());
    EXPECT_EQ(rewriter.depth(), 0u);
    EXPECT_EQ(out, wide);
    out.clear();
    rewriter.feed(refusal, out);
    EXPECT_EQ(out, "-NOPERM no\r\n");
}

TEST(DbRedisRewriter, TooManyDistinctLevelsEndTheStream) {
    std::string deep;
    // Alternating element counts: no two neighbouring levels alike.
    for (std::size_t i = 0; i <= kMaxReplyLevels; ++i) deep += (i % 2 == 0) ? "*2\r\n" : "*3\r\n";
    ReplyRewriter rewriter;
    std::string out;
    rewriter.feed(deep + ":1\r\n", out);
    EXPECT_TRUE(rewriter.lost_framing());
    EXPECT_EQ(out, deep);  // nothing after the level that could not be kept
    rewriter.feed(":2\r\n", out);
    EXPECT_EQ(out, deep);
}

TEST(DbRedisRewriter, RedactsSecretsInEveryKindOfElement) {
    const std::string secret = "hunter2-CANARY-secret";
    const std::string stars(secret.size(), '*');
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"$21\r\n" + secret + "\r\n", "$21\r\n" + stars + "\r\n"},
        {"+" + secret + "\r\n", "+" + stars + "\r\n"},
        {"-ERR bad " + secret + "\r\n", "-ERR bad " + stars + "\r\n"},
        {"*2\r\n$11\r\nrequirepass\r\n$21\r\n" + secret + "\r\n",
         "*2\r\n$11\r\nrequirepass\r\n$21\r\n" + stars + "\r\n"},
        {"%1\r\n+k\r\n=25\r\ntxt:" + secret + "\r\n", "%1\r\n+k\r\n=25\r\ntxt:" + stars + "\r\n"},
        {"*1\r\n-ERR nested " + secret + "\r\n", "*1\r\n-ERR nested " + stars + "\r\n"},
    };
    for (const auto& [reply, expected] : cases) {
        for (std::size_t cut = 0; cut <= reply.size(); ++cut) {
            ReplyRewriter rewriter({secret});
            std::string out;
            rewriter.feed(std::string_view(reply).substr(0, cut), out);
            rewriter.feed(std::string_view(reply).substr(cut), out);
            EXPECT_EQ(out, expected) << "cut at " << cut;
        }
    }
    // A prefix of the secret at the end of an element is passed on at once, not held back.
    ReplyRewriter rewriter({secret});
    std::string out;
    rewriter.feed("$6\r\nhunter\r\n", out);
    EXPECT_EQ(out, "$6\r\nhunter\r\n");
    EXPECT_EQ(rewriter.redactions(), 0u);
}

// Whole elements take the rewriter's fast path, split ones its incremental states: with secrets
// shorter and longer than the elements, every kind of element, refusals and nesting, the output
// and the counts must not depend on where the replies are cut.
TEST(DbRedisRewriter, WholeElementsArePassedLikeSplitOnes) {
    const std::string secret = "hunter2-CANARY-secret";
    const std::string refusal =
        "-ERR unknown command 'cloakroom.refused:NOPERM Cloakroom: no', with args beginning "
        "with: \r\n";
    const std::string nested_refusal = "%1\r\n+k\r\n" + refusal;  // a map value: no refusal
    const std::string replies =
        "+OK\r\n:12\r\n$3\r\nxxx\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n,1.5\r\n#t\r\n_\r\n(12\r\n" +
        refusal + "$21\r\n" + secret + "\r\n+" + secret + "\r\n$5\r\nhu" + "nte\r\n" +
        "*3\r\n$2\r\nab\r\n-ERR nested " + secret + "\r\n*1\r\n:1\r\n" +
        "%1\r\n+k\r\n=25\r\ntxt:" + secret + "\r\n" + nested_refusal + "|1\r\n+a\r\n+b\r\n:7\r\n" +
        ">2\r\n+message\r\n$2\r\nhi\r\n~1\r\n!3\r\nbad\r\n-ERR top " + secret + "\r\n" +
        "$3\r\nxxxx\r\n";  // framing lost at the end
    struct Seen {
        std::string out;
        std::uint64_t rewritten = 0;
        std::size_t redactions = 0;
        bool lost = false;
        std::size_t depth = 0;
        bool operator==(const Seen&) const = default;
    };
    for (const std::vector<std::string_view>& secrets :
         std::vector<std::vector<std::string_view>>{{}, {secret}, {"xx"}, {"OK", secret}, {"a"}}) {
        auto feed = [&](const std::vector<std::size_t>& cuts) {
            ReplyRewriter rewriter(secrets);
            Seen seen;
            std::size_t from = 0;
            for (std::size_t k = 0; k <= cuts.size(); ++k) {
                const std::size_t to = k < cuts.size() ? cuts[k] : replies.size();
                rewriter.feed(std::string_view(replies).substr(from, to - from), seen.out);
                from = to;
            }
            seen.rewritten = rewriter.rewritten();
            seen.redactions = rewriter.redactions();
            seen.lost = rewriter.lost_framing();
            seen.depth = rewriter.depth();
            return seen;
        };
        const Seen whole = feed({});
        EXPECT_TRUE(whole.lost);
        EXPECT_EQ(whole.rewritten, 1u);
        if (!secrets.empty() && secrets.back() == secret) {
            EXPECT_EQ(whole.out.find(secret), std::string::npos);
            EXPECT_GE(whole.redactions, 5u);  // every element that holds it
        }
        std::vector<std::size_t> every;
        for (std::size_t cut = 1; cut < replies.size(); ++cut) every.push_back(cut);
        EXPECT_EQ(feed(every), whole) << "byte by byte";
        for (std::size_t cut = 1; cut < replies.size(); ++cut) {
            EXPECT_EQ(feed({cut}), whole) << "cut at " << cut;
        }
    }
    // Header lines as the states read them: 19 digits, a leading zero or "-0" lose the framing.
    for (const std::string bad : {"*1234567890123456789\r\n", "*01\r\n", "$-0\r\n", "%-1\r\n"}) {
        ReplyRewriter rewriter;
        std::string out;
        rewriter.feed(bad + ":1\r\n", out);
        EXPECT_TRUE(rewriter.lost_framing()) << bad;
    }
}

TEST(DbRedisRewriter, LargeBlobsPassWithoutBuffering) {
    ReplyRewriter rewriter;
    std::string out;
    rewriter.feed("$1000000\r\n", out);
    rewriter.feed(std::string(5000, '-'), out);
    EXPECT_EQ(out.size(), 10u + 5000u);
    EXPECT_FALSE(rewriter.lost_framing());
}

}  // namespace
}  // namespace cloakroom::db::redis
