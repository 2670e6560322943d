// The relay filters of the PostgreSQL and MySQL gateways (re-authentication refused, secrets
// redacted from replies), the session's secret encodings, and token-shaped user names. Pure: no
// sockets.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "db/mysql/messages.hpp"
#include "db/mysql/protocol.hpp"
#include "db/mysql/relay_filters.hpp"
#include "db/postgres/pg_protocol.hpp"
#include "db/postgres/pg_relay_filters.hpp"
#include "db/reply_secrets.hpp"
#include "db/token_shape.hpp"

namespace cloakroom::db {
namespace {

using namespace std::string_literals;

const std::string kSecret = "Real-DB-Password-CANARY-7f3e";

// Feeds `input` whole, split at every position, and byte by byte; every way must agree.
template <typename Make>
std::string feed_every_way(Make make, const std::string& input) {
    auto whole = make();
    std::string expected;
    whole.feed(input, expected);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        auto filter = make();
        std::string out;
        filter.feed(std::string_view(input).substr(0, cut), out);
        filter.feed(std::string_view(input).substr(cut), out);
        EXPECT_EQ(out, expected) << "cut at " << cut;
    }
    auto bytes = make();
    std::string out;
    for (const char c : input) bytes.feed(std::string_view(&c, 1), out);
    EXPECT_EQ(out, expected) << "byte by byte";
    return expected;
}

// ---- session secrets ----

TEST(DbSessionSecrets, PasswordAndItsObviousEncodings) {
    SessionSecrets secrets;
    secrets.add_password("pw!");
    secrets.add_password("pw!");  // once only
    secrets.add_password("");
    const auto needles = secrets.needles();
    ASSERT_GE(needles.size(), 4u);
    EXPECT_EQ(needles[0], "pw!");
    EXPECT_EQ(needles[1], "707721");
    EXPECT_EQ(needles[2], "cHch");  // upper-case hex is the same string here: kept once
    ASSERT_EQ(needles.size(), 4u);  // + the SHA-256 hex (what ACL LIST shows)
    EXPECT_EQ(needles[3].size(), 64u);
    SessionSecrets letters;
    letters.add_password("\xab\xcd");
    EXPECT_EQ(letters.needles()[1], "abcd");
    EXPECT_EQ(letters.needles()[2], "ABCD");
    SessionSecrets none;
    EXPECT_TRUE(none.empty());
}

// ---- MySQL ----

std::string packet(std::uint8_t seq, const std::string& payload) {
    return mysql::frame_packet(seq, payload);
}

std::string text_row(const std::vector<std::string>& values) {
    std::string out;
    for (const auto& value : values) mysql::put_lenenc_string(out, value);
    return out;
}

struct MysqlPair {
    std::shared_ptr<mysql::Refusals> refusals = std::make_shared<mysql::Refusals>();
    MysqlPair() { refusals->marker = "cloakroom_refused_0123456789abcdef"; }
};

TEST(DbMysqlGuards, ChangeUserIsReplacedByTheMarkerQuery) {
    MysqlPair pair;
    const std::string change_user =
        "\x11"s + "root\0"s + "\x14" + std::string(20, 'h') + "mysql\0"s;
    const std::string input = packet(0, "\x03SELECT 1") + packet(0, change_user) +
                              packet(0, "\x0e") /* COM_PING */ + packet(0, "\x1f") /* RESET */;
    const std::string out = feed_every_way(
        [&] {
            auto fresh = std::make_shared<mysql::Refusals>();
            fresh->marker = pair.refusals->marker;
            return mysql::CommandGuard(fresh);
        },
        input);
    EXPECT_EQ(out, packet(0, "\x03SELECT 1") + packet(0, "\x03" + pair.refusals->marker) +
                       packet(0, "\x0e") + packet(0, "\x1f"));
    EXPECT_EQ(out.find("root"), std::string::npos);
    mysql::CommandGuard guard(pair.refusals);
    std::string sent;
    guard.feed(input, sent);
    EXPECT_EQ(pair.refusals->count, 1u);
    ASSERT_EQ(pair.refusals->pending.size(), 1u);
    EXPECT_EQ(pair.refusals->names, std::vector<std::string>{"COM_CHANGE_USER"});
}

TEST(DbMysqlGuards, OnlyCommandsAreReadAsCommands) {
    // A packet with a sequence id other than 0 (LOAD DATA LOCAL data, a continuation) and the
    // packet after a maximum-size one are data, whatever their first byte.
    MysqlPair pair;
    const std::string data = packet(2, "\x11 file contents");
    const std::string big(mysql::kMaxPayload, 'x');
    const std::string continued = mysql::frame_packet(0, "\x03" + big);  // 2 packets: 0 and 1
    std::string wrapped = "\xff\xff\xff\x00"s + "\x03" + big.substr(1) + packet(0, "\x11tail");
    for (const std::string& input : {data, continued, wrapped}) {
        mysql::CommandGuard guard(pair.refusals);
        std::string out;
        guard.feed(input, out);
        EXPECT_EQ(out, input);
    }
    EXPECT_EQ(pair.refusals->count, 0u);
    // A refused command that is itself longer than one packet: every part is dropped.
    mysql::CommandGuard guard(pair.refusals);
    std::string out;
    const std::string long_change =
        "\xff\xff\xff\x00"s + "\x11" + big.substr(1) + packet(1, "more");
    guard.feed(long_change + packet(0, "\x0e"), out);
    EXPECT_EQ(out, packet(0, "\x03" + pair.refusals->marker) + packet(0, "\x0e"));
}

TEST(DbMysqlGuards, TheMarkersErrorBecomesTheRefusal) {
    MysqlPair pair;
    pair.refusals->pending.push_back(mysql::refusal_error("COM_CHANGE_USER"));
    const std::string server_err = mysql::build_err(
        1064, "42000",
        "You have an error in your SQL syntax; ... near '" + pair.refusals->marker + "' at line 1");
    const std::string other_err = mysql::build_err(1146, "42S02", "Table 'x' doesn't exist");
    mysql::ReplyGuard guard(pair.refusals, {});
    std::string out;
    guard.feed(packet(1, other_err) + packet(1, server_err) + packet(1, server_err), out);
    auto refusal = mysql::parse_err(mysql::refusal_error("COM_CHANGE_USER"));
    ASSERT_TRUE(refusal.ok());
    EXPECT_EQ(refusal->code, mysql::kErSpecificAccessDenied);
    // Only as many replacements as refusals: the second marker error passes as it is.
    EXPECT_EQ(out, packet(1, other_err) + packet(1, mysql::refusal_error("COM_CHANGE_USER")) +
                       packet(1, server_err));
    EXPECT_TRUE(pair.refusals->pending.empty());
}

TEST(DbMysqlGuards, SecretsInRowsAndErrorsBecomeStars) {
    const std::string stars(kSecret.size(), '*');
    const std::string input =
        packet(1, "\x01") + packet(2, text_row({"def", "", "", "", "'" + kSecret + "'"})) +
        packet(3, "\xfe\x00\x00\x02\x00"s) + packet(4, text_row({kSecret, "x" + kSecret})) +
        packet(5, "\x00"s + text_row({kSecret})) /* binary row */ +
        packet(6, "\xfe\x00\x00\x02\x00"s) +
        packet(1, mysql::build_err(1146, "42S02", "Table 'shop." + kSecret + "' doesn't exist"));
    auto make = [] { return mysql::ReplyGuard(std::make_shared<mysql::Refusals>(), {kSecret}); };
    const std::string out = feed_every_way(make, input);
    EXPECT_EQ(out.size(), input.size());
    EXPECT_EQ(out.find(kSecret), std::string::npos);
    std::string expected = input;
    for (std::size_t at = expected.find(kSecret); at != std::string::npos;
         at = expected.find(kSecret)) {
        expected.replace(at, kSecret.size(), stars);
    }
    EXPECT_EQ(out, expected);
    // A secret prefix at the end of a packet is not held back.
    auto guard = make();
    std::string partial;
    const std::string row = packet(4, text_row({kSecret.substr(0, 10)}));
    guard.feed(row, partial);
    EXPECT_EQ(partial, row);
    EXPECT_TRUE(guard.at_boundary());
}

// ---- PostgreSQL ----

std::string pg_message(char type, const std::string& body) {
    std::string out(1, type);
    const auto length = static_cast<std::uint32_t>(body.size() + 4);
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xFF);
    return out + body;
}

TEST(DbPgGuards, QueriesPassUnchanged) {
    const std::string input = pg_message('Q', "select 1\0"s) +
                              pg_message('P', "\0select $1\0\0\0"s) +
                              pg_message('B', std::string(12, '\0')) + pg_message('S', "") +
                              pg_message('d', "copy data") + pg_message('X', "");
    const std::string out = feed_every_way([] { return postgres::ClientGuard(); }, input);
    EXPECT_EQ(out, input);
}

TEST(DbPgGuards, EveryReauthenticationShapeIsRefused) {
    const std::string query = pg_message('Q', "select 1\0"s);
    const std::string startup = "\x00\x00\x00\x15\x00\x03\x00\x00user\0root\0\0"s;
    const std::string ssl_request = "\x00\x00\x00\x08\x04\xd2\x16\x2f"s;
    const std::string gss_request = "\x00\x00\x00\x08\x04\xd2\x16\x30"s;
    const std::string cancel = "\x00\x00\x00\x10\x04\xd2\x16\x2e"s + std::string(8, '\1');
    for (const std::string& refused :
         {pg_message('p', "password\0"s), pg_message('p', "SCRAM-SHA-256\0\0\0\0\x05n,,n="s),
          startup, ssl_request, gss_request, cancel, pg_message('R', "\0\0\0\0"s),
          "Q\x00\x00\x00\x02"s}) {
        postgres::ClientGuard guard;
        std::string out;
        const bool ok = guard.feed(query + refused + query, out);
        EXPECT_FALSE(ok);
        EXPECT_EQ(out, query) << "nothing after the refused message reaches the server";
        EXPECT_FALSE(guard.error().empty());
        std::string more;
        EXPECT_FALSE(guard.feed(query, more));
        EXPECT_TRUE(more.empty());
    }
}

TEST(DbPgGuards, SecretsInEveryMessageBecomeStars) {
    const std::string stars(kSecret.size(), '*');
    auto field = [](const std::string& value) {
        std::string out;
        const auto length = static_cast<std::uint32_t>(value.size());
        for (int shift = 24; shift >= 0; shift -= 8)
            out += static_cast<char>((length >> shift) & 0xFF);
        return out + value;
    };
    const std::string input =
        pg_message('T', "\0\x01?column?\0\0\0\0\0\0\0\0\0\0\x19\xff\xff\xff\xff\xff\xff\0\0"s) +
        pg_message('D', "\0\x02"s + field(kSecret) + field("pre" + kSecret + "post")) +
        pg_message('E', "SERROR\0C42703\0Mcolumn \""s + kSecret + "\" does not exist\0\0"s) +
        pg_message('N', "SNOTICE\0M"s + kSecret + "\0\0"s) +
        pg_message('S', "application_name\0"s + kSecret + "\0"s) + pg_message('Z', "I");
    const std::string out = feed_every_way([] { return postgres::ReplyGuard({kSecret}); }, input);
    std::string expected = input;
    for (std::size_t at = expected.find(kSecret); at != std::string::npos;
         at = expected.find(kSecret)) {
        expected.replace(at, kSecret.size(), stars);
    }
    EXPECT_EQ(out, expected);
    postgres::ReplyGuard guard({kSecret});
    std::string partial;
    const std::string row = pg_message('D', "\0\x01"s + field(kSecret.substr(0, 12)));
    guard.feed(row, partial);
    EXPECT_EQ(partial, row);  // a prefix at a message's end is not held back
    EXPECT_TRUE(guard.at_boundary());
}

// ---- token-shaped names ----

TEST(DbTokenShape, TokensAsUserNamesAreRecognised) {
    for (const std::string& name :
         std::vector<std::string>{"acm_AQIDBAUGBwgJ", "ACM_xyz", "Bearer acm_0123456789abcdefghij",
                                  "xtok_abc" /* configured prefix */,
                                  std::string(60, 'A') /* a token whose prefix was cut off */}) {
        EXPECT_TRUE(looks_like_token(name, "xtok_")) << name;
        EXPECT_EQ(shown_name(name, "xtok_"), kTokenShapedName);
    }
    for (const std::string& name :
         std::vector<std::string>{"readonly", "app_ro", "default", "", "shop_acm_x",
                                  "very.long.but-ordinary.user@example.com"}) {
        EXPECT_FALSE(looks_like_token(name, "xtok_")) << name;
        EXPECT_EQ(shown_name(name, "xtok_"), name);
    }
}

}  // namespace
}  // namespace cloakroom::db
