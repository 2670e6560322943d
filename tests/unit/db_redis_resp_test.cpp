#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "db/redis/resp.hpp"

namespace cloakroom::db::redis {
namespace {

using Args = std::vector<std::string>;

ParsedCommand parse(std::string_view input) {
    return parse_command(input, kSessionLimits);
}

TEST(DbRedisResp, ParsesArrayOfBulkStrings) {
    const auto result = parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n");
    ASSERT_EQ(result.status, ParseStatus::Complete);
    EXPECT_EQ(result.args, (Args{"SET", "k", "va\r\nl"}));
    EXPECT_EQ(result.consumed, 31u);
}

TEST(DbRedisResp, ParsesEmptyAndBinaryArguments) {
    const std::string input = std::string("*2\r\n$0\r\n\r\n$3\r\n\0\xff\n\r\n", 19);
    const auto result = parse(input);
    ASSERT_EQ(result.status, ParseStatus::Complete);
    EXPECT_EQ(result.args, (Args{"", std::string("\0\xff\n", 3)}));
    EXPECT_EQ(result.consumed, input.size());
}

TEST(DbRedisResp, StopsAfterOneCommandOfAPipeline) {
    const std::string input = "*1\r\n$4\r\nPING\r\nGET k\r\n";
    const auto first = parse(input);
    ASSERT_EQ(first.status, ParseStatus::Complete);
    EXPECT_EQ(first.args, (Args{"PING"}));
    const auto second = parse(std::string_view(input).substr(first.consumed));
    ASSERT_EQ(second.status, ParseStatus::Complete);
    EXPECT_EQ(second.args, (Args{"GET", "k"}));
    EXPECT_EQ(first.consumed + second.consumed, input.size());
}

TEST(DbRedisResp, EveryPrefixOfACommandIsIncomplete) {
    for (const std::string& input :
         {std::string("*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$10\r\nacm_123456\r\n"),
          std::string("AUTH app \"acm tok\"\r\n"), std::string("*0\r\n")}) {
        for (std::size_t cut = 0; cut < input.size(); ++cut) {
            const auto result = parse(std::string_view(input).substr(0, cut));
            EXPECT_EQ(result.status, ParseStatus::Incomplete) << "cut at " << cut;
        }
        EXPECT_EQ(parse(input).status, ParseStatus::Complete);
    }
}

TEST(DbRedisResp, EmptyCommandsRunNothing) {
    for (const std::string_view input : {"*0\r\n", "*-1\r\n", "\r\n", "   \n"}) {
        const auto result = parse(input);
        ASSERT_EQ(result.status, ParseStatus::Complete) << input;
        EXPECT_TRUE(result.args.empty());
        EXPECT_EQ(result.consumed, input.size());
    }
}

TEST(DbRedisResp, ParsesInlineCommandsLikeRedis) {
    EXPECT_EQ(parse("GET key\r\n").args, (Args{"GET", "key"}));
    EXPECT_EQ(parse("  set  a   b\n").args, (Args{"set", "a", "b"}));
    EXPECT_EQ(parse("SET k \"a b\\x41\\n\"\r\n").args, (Args{"SET", "k", "a bA\n"}));
    EXPECT_EQ(parse("SET k 'it\\'s'\r\n").args, (Args{"SET", "k", "it's"}));
    EXPECT_EQ(parse("SET k \"\"\r\n").args, (Args{"SET", "k", ""}));
    // A NUL ends the line as in redis-server's C-string parsing.
    EXPECT_EQ(parse(std::string("GET a\0SET b\r\n", 13)).args, (Args{"GET", "a"}));
}

TEST(DbRedisResp, RejectsUnbalancedQuotes) {
    for (const std::string_view input :
         {"SET k \"abc\r\n", "SET k 'abc\r\n", "SET k \"a\"b\r\n", "SET k 'a'b\r\n"}) {
        const auto result = parse(input);
        EXPECT_EQ(result.status, ParseStatus::Invalid) << input;
        EXPECT_EQ(result.error, "Protocol error: unbalanced quotes in request");
    }
}

TEST(DbRedisResp, RejectsMalformedArrays) {
    struct Case {
        std::string input;
        std::string error;
    };
    const Case cases[] = {
        {"*x\r\n", "Protocol error: invalid multibulk length"},
        {"*01\r\n", "Protocol error: invalid multibulk length"},
        {"*1\n$1\r\na\r\n", "Protocol error: invalid multibulk length"},
        {"*+1\r\n", "Protocol error: invalid multibulk length"},
        {"*1\r\n:5\r\n", "Protocol error: expected '$', got ':'"},
        {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
        {"*1\r\n$ 1\r\na\r\n", "Protocol error: invalid bulk length"},
        {"*1\r\n$1\r\nabc\r\n", "Protocol error: expected CRLF after an argument"},
        {"*1\r\n$1\r\na\n\r", "Protocol error: expected CRLF after an argument"},
        {"*" + std::string(40, '1'), "Protocol error: invalid multibulk length"},
        {"*1\r\n$" + std::string(40, '1'), "Protocol error: invalid bulk length"},
    };
    for (const auto& c : cases) {
        const auto result = parse(c.input);
        EXPECT_EQ(result.status, ParseStatus::Invalid) << c.input;
        EXPECT_EQ(result.error, c.error) << c.input;
    }
}

TEST(DbRedisResp, EnforcesLimits) {
    const RequestLimits limits{2, 8, 16};
    EXPECT_EQ(parse_command("*3\r\n", limits).status, ParseStatus::Invalid);
    EXPECT_EQ(parse_command("*2\r\n$9\r\n", limits).status, ParseStatus::Invalid);
    EXPECT_EQ(parse_command("*2\r\n$8\r\n", limits).status, ParseStatus::Incomplete);
    EXPECT_EQ(parse_command(std::string(17, 'a'), limits).status, ParseStatus::Invalid);
    EXPECT_EQ(parse_command(std::string(16, 'a'), limits).status, ParseStatus::Incomplete);
    EXPECT_EQ(parse_command(std::string(17, 'a') + "\n", limits).status, ParseStatus::Invalid);
    EXPECT_EQ(parse_command(std::string(16, 'a') + "\r\n", limits).status, ParseStatus::Invalid);
    EXPECT_EQ(parse_command(std::string(15, 'a') + "\r\n", limits).status, ParseStatus::Complete);
    EXPECT_EQ(parse_command("a b\r\n", limits).status, ParseStatus::Complete);
    EXPECT_EQ(parse_command("a b c\r\n", limits).status, ParseStatus::Invalid);
}

TEST(DbRedisResp, ErrorsNeverQuoteTheInput) {
    const auto result = parse("*1\r\n" + std::string("acm_secret_token"));
    EXPECT_EQ(result.status, ParseStatus::Invalid);
    EXPECT_EQ(result.error.find("acm_secret"), std::string::npos);
    EXPECT_EQ(parse("*1\r\n\x01").error, "Protocol error: expected '$', got '\\x01'");
}

TEST(DbRedisResp, ParseLength) {
    std::int64_t value = 0;
    EXPECT_TRUE(parse_length("0", false, value));
    EXPECT_EQ(value, 0);
    EXPECT_TRUE(parse_length("123", false, value));
    EXPECT_EQ(value, 123);
    EXPECT_TRUE(parse_length("-1", true, value));
    EXPECT_EQ(value, -1);
    EXPECT_FALSE(parse_length("-1", false, value));
    EXPECT_FALSE(parse_length("-0", true, value));
    EXPECT_FALSE(parse_length("", false, value));
    EXPECT_FALSE(parse_length("007", false, value));
    EXPECT_FALSE(parse_length("1a", false, value));
    EXPECT_FALSE(parse_length("1234567890123456789", false, value));
}

TEST(DbRedisResp, EncodesCommandsAndErrors) {
    EXPECT_EQ(encode_command({"AUTH", "app", "p\r\nw"}),
              "*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$4\r\np\r\nw\r\n");
    EXPECT_EQ(error_reply("ERR bad\r\nthing"), "-ERR bad  thing\r\n");
    const std::vector<std::string> args{"SET", std::string("\0k", 2), ""};
    const auto round_trip = parse(encode_command(args));
    ASSERT_EQ(round_trip.status, ParseStatus::Complete);
    EXPECT_EQ(round_trip.args, args);
}

TEST(DbRedisResp, FramesRepliesOfEveryType) {
    const std::string replies[] = {
        "+OK\r\n",
        "-ERR x\r\n",
        ":42\r\n",
        "$5\r\nhe\r\no\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
        "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n_\r\n",
        "~1\r\n,1.5\r\n",
        ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n",
        "|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
        "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
        "!5\r\nERR x\r\n",
        "=7\r\ntxt:abc\r\n",
        "#t\r\n",
        "(12345678901234567890\r\n",
        "|0\r\n+OK\r\n",
    };
    for (const auto& reply : replies) {
        const std::string stream = reply + "+NEXT\r\n";
        const ReplyFrame frame = frame_reply(stream);
        ASSERT_EQ(frame.status, ParseStatus::Complete) << reply;
        EXPECT_EQ(frame.size, reply.size()) << reply;
        for (std::size_t cut = 0; cut < reply.size(); ++cut) {
            EXPECT_EQ(frame_reply(std::string_view(reply).substr(0, cut)).status,
                      ParseStatus::Incomplete)
                << reply << " cut at " << cut;
        }
    }
    EXPECT_EQ(frame_reply("|1\r\n+a\r\n+b\r\n%0\r\n").type, '%');
}

TEST(DbRedisResp, RejectsMalformedReplies) {
    for (const std::string_view reply : {"?x\r\n", "$?\r\n", "*?\r\n", "$-2\r\n", "%-1\r\n",
                                         "$1\r\nab\r\n", "+OK\n", "*1\r\nX\r\n"}) {
        EXPECT_EQ(frame_reply(reply).status, ParseStatus::Invalid) << reply;
    }
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    EXPECT_EQ(frame_reply(deep, 64).status, ParseStatus::Invalid);
    EXPECT_EQ(frame_reply(deep, 128).status, ParseStatus::Complete);
}

TEST(DbRedisResp, ReplyErrorText) {
    EXPECT_EQ(reply_error_text("-WRONGPASS invalid\r\n"), "WRONGPASS invalid");
    EXPECT_EQ(reply_error_text("!5\r\nERR x\r\n"), "ERR x");
    EXPECT_EQ(reply_error_text("+OK\r\n"), "");
    EXPECT_EQ(reply_error_text(""), "");
}

TEST(DbRedisResp, AsciiUpper) {
    EXPECT_EQ(ascii_upper("cLient|setName\xe9"), "CLIENT|SETNAME\xe9");
}

}  // namespace
}  // namespace cloakroom::db::redis
