// MySQL connection-phase messages (src/db/mysql/messages.hpp), with packets captured from real
// clients (MariaDB Connector/C 3.3 and PyMySQL 1.0) and a MariaDB 10.11 server.
#include <gtest/gtest.h>

#include <string>

#include "db/mysql/messages.hpp"
#include "db/mysql/protocol.hpp"
#include "util/hex.hpp"

namespace cloakroom::db::mysql {
namespace {

using namespace std::string_literals;

std::string unhex(std::string_view text) {
    auto bytes = hex_decode(text);
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::string();
}

// libmariadb 3.3.20 (the `mariadb` CLI) logging in as "agent" with password "SECRETTOK" after a
// caching_sha2_password greeting with nonce "abcdefghijklmnopqrst" from a MariaDB-style server
// (no CLIENT_MYSQL, so the client puts its extended capabilities 0x1d in the filler).
const std::string kLibmariadbResponse = unhex(
    "84a2bf000000100021000000000000000000000000000000000000001d0000006167656e7400203a1ebe0acda6"
    "28d2ee070fe28724f62ec9714a85dc0da6aeb723500146b39f4663616368696e675f736861325f70617373776f"
    "7264007e035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f7069640437"
    "3039350f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c70"
    "726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e302e31");

// PyMySQL 1.0.2, same password and nonce, database "shop".
const std::string kPymysqlResponse = unhex(
    "0da23a00ffffff002d00000000000000000000000000000000000000000000006167656e7400203a1ebe0acda6"
    "28d2ee070fe28724f62ec9714a85dc0da6aeb723500146b39f4673686f700063616368696e675f736861325f70"
    "617373776f726400350c5f636c69656e745f6e616d650770796d7973716c045f70696404373936300f5f636c69"
    "656e745f76657273696f6e05312e302e32");

const std::string kSha2Scramble =
    unhex("3a1ebe0acda628d2ee070fe28724f62ec9714a85dc0da6aeb723500146b39f46");

InitialHandshake sample_greeting() {
    InitialHandshake greeting;
    greeting.server_version = "5.5.5-10.11.6-MariaDB-0+deb12u1";
    greeting.connection_id = 42;
    greeting.nonce = "abcdefghijklmnopqrst";
    greeting.capabilities = 0xF7FEu | (0x81BFu << 16);  // MariaDB: no CLIENT_MYSQL
    greeting.charset = 45;
    greeting.status = 2;
    greeting.reserved = std::string(6, '\0') + "\x1d\x00\x00\x00"s;
    greeting.auth_plugin = "mysql_native_password";
    return greeting;
}

TEST(MysqlGreeting, BuildThenParseRoundTrips) {
    const InitialHandshake greeting = sample_greeting();
    const std::string payload = build_initial_handshake(greeting);
    auto parsed = parse_initial_handshake(payload);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->server_version, greeting.server_version);
    EXPECT_EQ(parsed->connection_id, 42u);
    EXPECT_EQ(parsed->nonce, greeting.nonce);
    EXPECT_EQ(parsed->capabilities, greeting.capabilities);
    EXPECT_EQ(parsed->charset, 45);
    EXPECT_EQ(parsed->status, 2);
    EXPECT_EQ(parsed->reserved, greeting.reserved);
    EXPECT_EQ(parsed->mariadb_capabilities(), 0x1du);
    EXPECT_EQ(parsed->auth_plugin, "mysql_native_password");
    EXPECT_EQ(build_initial_handshake(*parsed), payload);
}

TEST(MysqlGreeting, LayoutMatchesTheProtocol) {
    const std::string payload = build_initial_handshake(sample_greeting());
    Reader reader(payload);
    EXPECT_EQ(reader.u8(), 10);
    EXPECT_EQ(reader.nul_string(), "5.5.5-10.11.6-MariaDB-0+deb12u1");
    EXPECT_EQ(reader.u32(), 42u);
    EXPECT_EQ(reader.bytes(8), "abcdefgh");
    EXPECT_EQ(reader.u8(), 0);
    EXPECT_EQ(reader.u16(), 0xF7FE);
    EXPECT_EQ(reader.u8(), 45);
    EXPECT_EQ(reader.u16(), 2);
    EXPECT_EQ(reader.u16(), 0x81BF);
    EXPECT_EQ(reader.u8(), 21);  // auth data length: 20 + NUL
    EXPECT_EQ(reader.bytes(10), std::string(6, '\0') + "\x1d\x00\x00\x00"s);
    EXPECT_EQ(reader.bytes(13), "ijklmnopqrst\0"s);
    EXPECT_EQ(reader.nul_string(), "mysql_native_password");
    EXPECT_TRUE(reader.empty());
}

TEST(MysqlGreeting, MysqlServerHasNoExtendedCapabilities) {
    InitialHandshake greeting = sample_greeting();
    greeting.capabilities |= kClientLongPassword;
    EXPECT_EQ(greeting.mariadb_capabilities(), 0u);
}

TEST(MysqlGreeting, PluginNameWithoutTerminatorIsAccepted) {
    std::string payload = build_initial_handshake(sample_greeting());
    payload.pop_back();  // some 5.5 servers omit the NUL
    auto parsed = parse_initial_handshake(payload);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->auth_plugin, "mysql_native_password");
}

TEST(MysqlGreeting, RejectsOtherProtocolsAndTruncation) {
    auto v9 = parse_initial_handshake(
        "\x09"
        "5.0\0"s);
    ASSERT_FALSE(v9.ok());
    EXPECT_NE(v9.error().message.find("protocol version 9"), std::string::npos);
    EXPECT_FALSE(parse_initial_handshake("").ok());
    const std::string payload = build_initial_handshake(sample_greeting());
    // Cut anywhere inside the fixed part: an error, never a crash.
    for (std::size_t cut = 1; cut < 1 + 32 + 4 + 8 + 1 + 2; ++cut) {
        EXPECT_FALSE(parse_initial_handshake(payload.substr(0, cut)).ok()) << cut;
    }
    const std::size_t fixed_end = 1 + 32 + 4 + 8 + 1 + 2;  // old servers may stop here
    for (std::size_t cut = fixed_end + 1; cut < fixed_end + 16; ++cut) {
        EXPECT_FALSE(parse_initial_handshake(payload.substr(0, cut)).ok()) << cut;
    }
}

TEST(MysqlResponse, ParsesLibmariadbLogin) {
    auto parsed = parse_handshake_response(kLibmariadbResponse);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->capabilities, 0x00BFA284u);
    EXPECT_NE(parsed->capabilities & kClientPluginAuthLenencData, 0u);
    EXPECT_EQ(parsed->max_packet, 0x100000u);
    EXPECT_EQ(parsed->charset, 0x21);
    EXPECT_EQ(parsed->filler.substr(19), "\x1d\x00\x00\x00"s);
    EXPECT_EQ(parsed->user, "agent");
    EXPECT_EQ(parsed->auth_response, kSha2Scramble);
    EXPECT_FALSE(parsed->database.has_value());
    EXPECT_EQ(parsed->auth_plugin, "caching_sha2_password");
    ASSERT_TRUE(parsed->connect_attrs.has_value());
    EXPECT_EQ(parsed->connect_attrs->size(), 0x7Eu);
    EXPECT_NE(parsed->connect_attrs->find("libmariadb"), std::string::npos);
    // Rebuilding gives the same bytes: everything is carried through.
    EXPECT_EQ(build_handshake_response(*parsed), kLibmariadbResponse);
}

TEST(MysqlResponse, ParsesPymysqlLoginWithDatabase) {
    auto parsed = parse_handshake_response(kPymysqlResponse);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->user, "agent");
    EXPECT_EQ(parsed->auth_response, kSha2Scramble);
    EXPECT_EQ(parsed->database, "shop");
    EXPECT_EQ(parsed->auth_plugin, "caching_sha2_password");
    EXPECT_EQ(parsed->max_packet, 0x00FFFFFFu);
    EXPECT_EQ(parsed->charset, 45);
    EXPECT_NE(parsed->connect_attrs->find("pymysql"), std::string::npos);
    EXPECT_EQ(build_handshake_response(*parsed), kPymysqlResponse);
}

TEST(MysqlResponse, AuthResponseEncodings) {
    HandshakeResponse response;
    response.user = "u";
    response.auth_response = std::string(20, '\x07');
    response.auth_plugin = "mysql_native_password";
    response.database = "db";
    // One length byte (CLIENT_SECURE_CONNECTION).
    response.capabilities =
        kClientProtocol41 | kClientSecureConnection | kClientPluginAuth | kClientConnectWithDb;
    std::string built = build_handshake_response(response);
    EXPECT_EQ(built.substr(32, 3), "u\0\x14"s);
    auto parsed = parse_handshake_response(built);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->auth_response, response.auth_response);
    EXPECT_EQ(parsed->database, "db");
    EXPECT_EQ(parsed->auth_plugin, "mysql_native_password");
    EXPECT_FALSE(parsed->connect_attrs.has_value());

    // Length-encoded, long enough to need the 0xFC prefix.
    response.capabilities |= kClientPluginAuthLenencData | kClientConnectAttrs;
    response.auth_response = std::string(300, 'a');
    std::string attrs;
    put_lenenc_string(attrs, "_client_name");
    put_lenenc_string(attrs, "test");
    response.connect_attrs = attrs;
    built = build_handshake_response(response);
    EXPECT_EQ(built.substr(34, 3), "\xfc\x2c\x01"s);
    parsed = parse_handshake_response(built);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->auth_response, response.auth_response);
    EXPECT_EQ(parsed->connect_attrs, attrs);

    // NUL-terminated (neither flag).
    response.capabilities = kClientProtocol41;
    response.auth_response = "clear";
    built = build_handshake_response(response);
    parsed = parse_handshake_response(built);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->auth_response, "clear");
    EXPECT_FALSE(parsed->auth_plugin.has_value());
}

TEST(MysqlResponse, FieldsMayEndEarly) {
    // CLIENT_CONNECT_WITH_DB and CLIENT_PLUGIN_AUTH set, but the packet ends after the auth data.
    HandshakeResponse response;
    response.capabilities = kClientProtocol41 | kClientSecureConnection;
    response.user = "u";
    std::string built = build_handshake_response(response);
    std::string caps;
    put_u32(caps, response.capabilities | kClientPluginAuth | kClientConnectWithDb);
    built.replace(0, 4, caps);
    auto parsed = parse_handshake_response(built);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_FALSE(parsed->database.has_value());
    EXPECT_FALSE(parsed->auth_plugin.has_value());
    EXPECT_TRUE(parsed->auth_response.empty());
}

TEST(MysqlResponse, RejectsMalformedLogins) {
    EXPECT_FALSE(parse_handshake_response("").ok());
    // Pre-4.1 clients.
    auto old = parse_handshake_response("\x05\x00\x00\x00\x00\x00\x00\x00\x08u\0"s);
    ASSERT_FALSE(old.ok());
    EXPECT_NE(old.error().message.find("pre-4.1"), std::string::npos);
    // Every truncation of a real login is an error or a shorter valid login; never a crash.
    for (std::size_t cut = 0; cut < kLibmariadbResponse.size(); ++cut) {
        auto parsed = parse_handshake_response(kLibmariadbResponse.substr(0, cut));
        if (cut < 32 + 6) {
            EXPECT_FALSE(parsed.ok()) << cut;  // before "agent\0"
        }
    }
    // Auth data longer than the packet.
    std::string bad = kLibmariadbResponse.substr(0, 38) + "\x40" + "short"s;
    EXPECT_FALSE(parse_handshake_response(bad).ok());
    // Connection attributes whose pairs overrun their block.
    HandshakeResponse response;
    response.capabilities = kClientProtocol41 | kClientSecureConnection | kClientConnectAttrs;
    response.user = "u";
    response.connect_attrs =
        "\x05"
        "ab"s;
    EXPECT_FALSE(parse_handshake_response(build_handshake_response(response)).ok());
    response.connect_attrs =
        "\x01"
        "a"s;  // a key without a value
    EXPECT_FALSE(parse_handshake_response(build_handshake_response(response)).ok());
}

TEST(MysqlSslRequest, IsTheFirst32BytesWithClientSsl) {
    auto parsed = parse_handshake_response(kPymysqlResponse);
    ASSERT_TRUE(parsed.ok());
    HandshakeResponse response = *parsed;
    response.capabilities |= kClientSsl;
    const std::string request = build_ssl_request(response);
    ASSERT_EQ(request.size(), kSslRequestSize);
    EXPECT_TRUE(is_ssl_request(request));
    EXPECT_EQ(request.substr(4), kPymysqlResponse.substr(4, 28));
    EXPECT_EQ(build_handshake_response(response).substr(0, 32), request);
    response.capabilities &= ~kClientSsl;
    EXPECT_FALSE(is_ssl_request(build_ssl_request(response)));
    EXPECT_FALSE(is_ssl_request(kPymysqlResponse));  // a full login is not an SSLRequest
}

TEST(MysqlAuthSwitch, RoundTripsAndRejectsOldPasswords) {
    const std::string payload = build_auth_switch("mysql_native_password", "abcdefghijklmnopqrst");
    EXPECT_EQ(payload, "\xfemysql_native_password\0abcdefghijklmnopqrst\0"s);
    auto parsed = parse_auth_switch(payload);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->plugin, "mysql_native_password");
    EXPECT_EQ(parsed->data, "abcdefghijklmnopqrst");
    auto old = parse_auth_switch("\xfe"s);
    ASSERT_FALSE(old.ok());
    EXPECT_NE(old.error().message.find("old_password"), std::string::npos);
    EXPECT_FALSE(parse_auth_switch("\x01x"s).ok());
    EXPECT_FALSE(parse_auth_switch("").ok());
    auto bare = parse_auth_switch(
        "\xfe"
        "dialog"s);
    ASSERT_TRUE(bare.ok());
    EXPECT_EQ(bare->plugin, "dialog");
    EXPECT_EQ(bare->data, "");
}

TEST(MysqlErr, BuildAndParse) {
    const std::string payload = build_err(kErAccessDenied, "28000", "Access denied");
    EXPECT_EQ(payload, "\xff\x15\x04#28000Access denied"s);
    auto parsed = parse_err(payload);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->code, 1045);
    EXPECT_EQ(parsed->sql_state, "28000");
    EXPECT_EQ(parsed->message, "Access denied");
    auto bare = parse_err("\xff\x10\x04Too many connections"s);  // greeting-time ERR, no state
    ASSERT_TRUE(bare.ok());
    EXPECT_EQ(bare->code, 1040);
    EXPECT_EQ(bare->sql_state, "");
    EXPECT_EQ(bare->message, "Too many connections");
    EXPECT_FALSE(parse_err("\xff\x10"s).ok());
    EXPECT_FALSE(parse_err("\x00\x10\x04"s).ok());
    EXPECT_EQ(build_auth_more_data("\x04"), "\x01\x04");
}

}  // namespace
}  // namespace cloakroom::db::mysql
