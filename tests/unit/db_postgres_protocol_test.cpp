#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

#include "db/postgres/pg_protocol.hpp"

namespace cloakroom::db::postgres {
namespace {

using namespace std::string_literals;

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
            static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

// A startup packet without its length word.
std::string startup_body(std::uint32_t code, std::string_view params) {
    return be32(code) + std::string(params);
}

TEST(PgStartup, LengthLimits) {
    EXPECT_EQ(*parse_startup_length(be32(8)), 8u);
    EXPECT_EQ(*parse_startup_length(be32(10000)), 10000u);
    for (std::uint32_t bad : {0u, 4u, 7u, 10001u, 0x16030100u, 0xffffffffu}) {
        auto r = parse_startup_length(be32(bad));
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, kProtocolError);
        EXPECT_NE(r.error().message.find("invalid length of startup packet"), std::string::npos);
    }
    EXPECT_FALSE(parse_startup_length("abc").ok());
}

TEST(PgStartup, SpecialRequests) {
    auto ssl = parse_startup_packet(be32(kSslRequestCode));
    ASSERT_TRUE(ssl.ok());
    EXPECT_TRUE(std::holds_alternative<SslRequest>(*ssl));
    auto gss = parse_startup_packet(be32(kGssEncRequestCode));
    ASSERT_TRUE(gss.ok());
    EXPECT_TRUE(std::holds_alternative<GssEncRequest>(*gss));
    EXPECT_FALSE(parse_startup_packet(be32(kSslRequestCode) + "x").ok());

    auto cancel = parse_startup_packet(be32(kCancelRequestCode) + be32(1234) + be32(0xdeadbeef));
    ASSERT_TRUE(cancel.ok());
    const auto& c = std::get<CancelRequest>(*cancel);
    EXPECT_EQ(c.pid, 1234u);
    EXPECT_EQ(c.secret, 0xdeadbeefu);
    auto short_cancel = parse_startup_packet(be32(kCancelRequestCode) + be32(1));
    ASSERT_FALSE(short_cancel.ok());
    EXPECT_NE(short_cancel.error().message.find("exactly 8 bytes"), std::string::npos);
    EXPECT_FALSE(parse_startup_packet(be32(kCancelRequestCode) + be32(1) + be32(2) + "x").ok());

    auto unknown = parse_startup_packet(be32((1234u << 16) | 5681));
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, kUnsupportedError);

    // Round trips with the builders.
    EXPECT_EQ(build_ssl_request(), be32(8) + be32(kSslRequestCode));
    EXPECT_EQ(build_cancel_request({7, 9}),
              be32(16) + be32(kCancelRequestCode) + be32(7) + be32(9));
}

TEST(PgStartup, StartupMessage) {
    auto packet = parse_startup_packet(startup_body(kProtocol30,
                                                    "user\0alice\0database\0shop\0"
                                                    "application_name\0psql\0\0"s));
    ASSERT_TRUE(packet.ok()) << packet.error().message;
    const auto& message = std::get<StartupMessage>(*packet);
    EXPECT_EQ(message.major, 3);
    EXPECT_EQ(message.minor, 0);
    ASSERT_EQ(message.params.size(), 3u);
    EXPECT_EQ(*message.find("user"), "alice");
    EXPECT_EQ(message.find("nope"), nullptr);

    auto startup = interpret_startup(message);
    ASSERT_TRUE(startup.ok());
    EXPECT_EQ(startup->user, "alice");
    EXPECT_EQ(startup->database, "shop");
    ASSERT_EQ(startup->forward.size(), 1u);
    EXPECT_EQ(startup->forward[0].first, "application_name");
    EXPECT_FALSE(startup->negotiate);

    // Rebuilt for the upstream, it parses back to the same parameters.
    const std::string built = build_startup_message(message.params);
    ASSERT_TRUE(parse_startup_length(built.substr(0, 4)).ok());
    EXPECT_EQ(*parse_startup_length(built.substr(0, 4)), built.size());
    auto again = parse_startup_packet(std::string_view(built).substr(4));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(std::get<StartupMessage>(*again).params, message.params);
}

TEST(PgStartup, DatabaseDefaultsToUser) {
    auto packet = parse_startup_packet(startup_body(kProtocol30, "user\0bob\0\0"s));
    ASSERT_TRUE(packet.ok());
    auto startup = interpret_startup(std::get<StartupMessage>(*packet));
    ASSERT_TRUE(startup.ok());
    EXPECT_EQ(startup->database, "bob");
    auto empty_db = parse_startup_packet(startup_body(kProtocol30, "user\0bob\0database\0\0\0"s));
    ASSERT_TRUE(empty_db.ok());
    EXPECT_EQ(interpret_startup(std::get<StartupMessage>(*empty_db))->database, "bob");
}

TEST(PgStartup, RejectsMalformed) {
    struct Case {
        std::string params;
        std::string_view expect;
    };
    const Case cases[] = {
        {"user\0alice\0"s, "not terminated"},
        {"user\0alice"s, "has no value"},
        {"user"s, "not NUL-terminated"},
        {""s, "not terminated"},
        {"user\0a\0user\0b\0\0"s, "duplicate startup parameter \"user\""},
        {"user\0a\0\0garbage"s, "bytes after the terminator"},
    };
    for (const auto& c : cases) {
        auto r = parse_startup_packet(startup_body(kProtocol30, c.params));
        ASSERT_FALSE(r.ok()) << c.expect;
        EXPECT_EQ(r.error().code, kProtocolError);
        EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
        EXPECT_EQ(sqlstate_for(r.error()), "08P01");
    }
    EXPECT_FALSE(parse_startup_packet("").ok());
    EXPECT_FALSE(parse_startup_packet("ab").ok());
    EXPECT_FALSE(parse_startup_packet(std::string(10000, 'x')).ok());  // over the limit
}

TEST(PgStartup, ProtocolVersionsAndOptions) {
    auto v2 = parse_startup_packet(startup_body(2u << 16, "whatever"));
    ASSERT_TRUE(v2.ok());
    auto r2 = interpret_startup(std::get<StartupMessage>(*v2));
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(sqlstate_for(r2.error()), "0A000");
    EXPECT_NE(r2.error().message.find("unsupported frontend protocol 2.0"), std::string::npos);

    auto v32 =
        parse_startup_packet(startup_body((3u << 16) | 2, "user\0u\0_pq_.something\0x\0\0"s));
    ASSERT_TRUE(v32.ok());
    auto r32 = interpret_startup(std::get<StartupMessage>(*v32));
    ASSERT_TRUE(r32.ok());
    EXPECT_TRUE(r32->negotiate);
    ASSERT_EQ(r32->unrecognized_options.size(), 1u);
    EXPECT_EQ(r32->unrecognized_options[0], "_pq_.something");
    EXPECT_TRUE(r32->forward.empty());

    const auto nego = build_negotiate_protocol_version(0, r32->unrecognized_options);
    auto frame = take_frame(nego, 1000, "server");
    ASSERT_TRUE(frame.ok() && frame->has_value());
    EXPECT_EQ((*frame)->type, 'v');
    auto parsed = parse_negotiate_protocol_version((*frame)->body);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->newest_minor, 0u);
    EXPECT_EQ(parsed->unrecognized, r32->unrecognized_options);
}

TEST(PgStartup, MissingUserAndReplication) {
    auto no_user = parse_startup_packet(startup_body(kProtocol30, "database\0x\0\0"s));
    ASSERT_TRUE(no_user.ok());
    auto r = interpret_startup(std::get<StartupMessage>(*no_user));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(sqlstate_for(r.error()), "28000");

    auto repl = parse_startup_packet(startup_body(kProtocol30, "user\0u\0replication\0true\0\0"s));
    ASSERT_TRUE(repl.ok());
    auto rr = interpret_startup(std::get<StartupMessage>(*repl));
    ASSERT_FALSE(rr.ok());
    EXPECT_EQ(sqlstate_for(rr.error()), "0A000");
    auto repl_db =
        parse_startup_packet(startup_body(kProtocol30, "user\0u\0replication\0database\0\0"s));
    EXPECT_FALSE(interpret_startup(std::get<StartupMessage>(*repl_db)).ok());
    auto no_repl =
        parse_startup_packet(startup_body(kProtocol30, "user\0u\0replication\0off\0\0"s));
    EXPECT_TRUE(interpret_startup(std::get<StartupMessage>(*no_repl)).ok());

    auto control = parse_startup_packet(startup_body(kProtocol30, "user\0u\0a\x01\0v\0\0"s));
    ASSERT_TRUE(control.ok());
    EXPECT_FALSE(interpret_startup(std::get<StartupMessage>(*control)).ok());
}

TEST(PgMessages, HeaderAndFrames) {
    auto header = parse_message_header("p"s + be32(9), 100, "client");
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header->type, 'p');
    EXPECT_EQ(header->body_size, 5u);
    auto too_small = parse_message_header("p"s + be32(3), 100, "client");
    ASSERT_FALSE(too_small.ok());
    EXPECT_NE(too_small.error().message.find("client sent message 'p' with invalid length 3"),
              std::string::npos);
    auto too_big = parse_message_header("R"s + be32(105), 100, "upstream");
    ASSERT_FALSE(too_big.ok());
    EXPECT_NE(too_big.error().message.find("more than the limit of 100"), std::string::npos);
    EXPECT_FALSE(parse_message_header("p"s + be32(0xffffffff), 1 << 20, "client").ok());
    EXPECT_FALSE(parse_message_header("pab", 100, "client").ok());

    const std::string two = build_authentication(kAuthOk) + build_error_response("28P01", "no");
    auto first = take_frame(two, 1000, "upstream");
    ASSERT_TRUE(first.ok() && first->has_value());
    EXPECT_EQ((*first)->type, 'R');
    EXPECT_EQ((*first)->size, 9u);
    auto second = take_frame(std::string_view(two).substr(9), 1000, "upstream");
    ASSERT_TRUE(second.ok() && second->has_value());
    EXPECT_EQ((*second)->type, 'E');
    // Partial input: need more.
    auto partial = take_frame(std::string_view(two).substr(0, 7), 1000, "upstream");
    ASSERT_TRUE(partial.ok());
    EXPECT_FALSE(partial->has_value());
    EXPECT_TRUE(take_frame("", 10, "x")->has_value() == false);
    EXPECT_EQ(describe_type('\x01'), "0x01");
    EXPECT_EQ(describe_type('Z'), "'Z'");
}

TEST(PgMessages, PasswordMessage) {
    auto ok = parse_password_message("acm_token\0"s);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(*ok, "acm_token");
    EXPECT_EQ(*parse_password_message("\0"s), "");
    EXPECT_FALSE(parse_password_message("").ok());
    EXPECT_FALSE(parse_password_message("abc").ok());
    auto trailing = parse_password_message("abc\0def\0"s);
    ASSERT_FALSE(trailing.ok());
    EXPECT_NE(trailing.error().message.find("after its NUL"), std::string::npos);

    const auto built = build_password_message("secret");
    EXPECT_EQ(built, "p"s + be32(11) + "secret\0"s);
    EXPECT_EQ(build_sasl_initial_response("SCRAM-SHA-256", "n,,n=,r=x"),
              "p"s + be32(4 + 14 + 4 + 9) + "SCRAM-SHA-256\0"s + be32(9) + "n,,n=,r=x");
    EXPECT_EQ(build_sasl_response("c=biws"), "p"s + be32(10) + "c=biws");
    EXPECT_EQ(build_terminate(), "X"s + be32(4));
}

TEST(PgMessages, ErrorResponse) {
    const auto bytes = build_error_response("28P01", "password authentication failed");
    auto frame = take_frame(bytes, 1000, "server");
    ASSERT_TRUE(frame.ok() && frame->has_value());
    EXPECT_EQ((*frame)->type, 'E');
    EXPECT_EQ((*frame)->size, bytes.size());
    auto fields = parse_error_fields((*frame)->body);
    ASSERT_TRUE(fields.ok());
    EXPECT_EQ(fields->get('S'), "FATAL");
    EXPECT_EQ(fields->get('V'), "FATAL");
    EXPECT_EQ(fields->get('C'), "28P01");
    EXPECT_EQ(fields->get('M'), "password authentication failed");
    EXPECT_EQ(fields->get('D'), "");

    // An embedded NUL cannot cut the message short.
    const auto nul = build_error_response("08P01", "a\0b"s);
    auto nul_fields = parse_error_fields(std::string_view(nul).substr(5));
    ASSERT_TRUE(nul_fields.ok());
    EXPECT_EQ(nul_fields->get('M'), "a?b");

    EXPECT_FALSE(parse_error_fields("").ok());
    EXPECT_FALSE(parse_error_fields("Sx").ok());
    EXPECT_FALSE(parse_error_fields("Sx\0"s).ok());
    EXPECT_FALSE(parse_error_fields("Sx\0\0z"s).ok());
    EXPECT_TRUE(parse_error_fields("\0"s).ok());
}

TEST(PgMessages, Authentication) {
    auto ok = parse_authentication(be32(0));
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->code, kAuthOk);
    EXPECT_FALSE(parse_authentication(be32(0) + "x").ok());
    EXPECT_FALSE(parse_authentication("ab").ok());
    const std::string md5_body = be32(5) + "salt";
    auto md5 = parse_authentication(md5_body);
    ASSERT_TRUE(md5.ok());
    EXPECT_EQ(md5->data, "salt");
    EXPECT_FALSE(parse_authentication(be32(5) + "sal").ok());
    EXPECT_EQ(build_authentication(kAuthCleartextPassword), "R"s + be32(8) + be32(3));

    const std::string sasl_body = be32(10) + "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s;
    auto sasl = parse_authentication(sasl_body);
    ASSERT_TRUE(sasl.ok());
    auto mechanisms = parse_sasl_mechanisms(sasl->data);
    ASSERT_TRUE(mechanisms.ok());
    ASSERT_EQ(mechanisms->size(), 2u);
    EXPECT_EQ((*mechanisms)[1], "SCRAM-SHA-256");
    EXPECT_FALSE(parse_sasl_mechanisms("").ok());
    EXPECT_FALSE(parse_sasl_mechanisms("\0"s).ok());
    EXPECT_FALSE(parse_sasl_mechanisms("SCRAM-SHA-256\0"s).ok());
    EXPECT_FALSE(parse_sasl_mechanisms("SCRAM-SHA-256\0\0x"s).ok());
}

TEST(PgMessages, BackendKeyData) {
    auto key = parse_backend_key_data(be32(4242) + be32(0x01020304));
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->pid, 4242u);
    EXPECT_EQ(key->secret, 0x01020304u);
    EXPECT_FALSE(parse_backend_key_data(be32(1)).ok());
    EXPECT_FALSE(parse_backend_key_data(be32(1) + be32(2) + "x").ok());
    EXPECT_FALSE(parse_negotiate_protocol_version(be32(0)).ok());
    EXPECT_FALSE(parse_negotiate_protocol_version(be32(0) + be32(2) + "a\0"s).ok());
    EXPECT_FALSE(parse_negotiate_protocol_version(be32(0) + be32(0) + "x").ok());
}

}  // namespace
}  // namespace cloakroom::db::postgres
