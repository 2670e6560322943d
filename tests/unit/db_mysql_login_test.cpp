// The two halves of a MySQL login through Cloakroom, without I/O: the agent's client logging in
// to Cloakroom (client_login.hpp) and Cloakroom logging in to the server (upstream_login.hpp).
#include <gtest/gtest.h>

#include <string>

#include "db/mysql/auth_crypto.hpp"
#include "db/mysql/client_login.hpp"
#include "db/mysql/messages.hpp"
#include "db/mysql/protocol.hpp"
#include "db/mysql/upstream_login.hpp"

namespace cloakroom::db::mysql {
namespace {

using namespace std::string_literals;

constexpr std::string_view kNonce = "abcdefghijklmnopqrst";
constexpr std::string_view kToken = "acm_tokenvalue_for_tests";
constexpr std::string_view kPassword = "real-upstream-password";

std::shared_ptr<const RsaKey> small_key() {
    static const std::shared_ptr<const RsaKey> key = *generate_rsa_key(2048);
    return key;
}

ClientLogin::KeySource keys() {
    return []() -> Result<std::shared_ptr<const RsaKey>> { return small_key(); };
}

HandshakeResponse client_response(std::string plugin, std::string auth) {
    HandshakeResponse response;
    response.capabilities = kClientProtocol41 | kClientSecureConnection | kClientPluginAuth |
                            kClientPluginAuthLenencData | kClientConnectWithDb |
                            kClientConnectAttrs | kClientDeprecateEof | kClientMultiResults |
                            kClientTransactions | kClientSessionTrack | kClientLongPassword;
    response.max_packet = 16777216;
    response.charset = 45;
    response.filler = std::string(19, '\0') + "\x1d\x00\x00\x00"s;
    response.user = "readonly";
    response.auth_response = std::move(auth);
    response.auth_plugin = std::move(plugin);
    response.database = "shop";
    std::string attrs;
    put_lenenc_string(attrs, "_client_name");
    put_lenenc_string(attrs, "libmariadb");
    response.connect_attrs = attrs;
    return response;
}

std::string err_message(std::string_view payload) {
    auto err = parse_err(payload);
    EXPECT_TRUE(err.ok());
    return err.ok() ? err->message : std::string();
}

std::uint16_t err_code(std::string_view payload) {
    auto err = parse_err(payload);
    return err.ok() ? err->code : 0;
}

// ---- The agent's client → Cloakroom ----

TEST(MysqlClientLogin, CachingSha2OverTlsGetsTheTokenInClear) {
    ClientLogin login(std::string(kNonce), /*tls=*/true, keys());
    auto step = login.start(
        client_response("caching_sha2_password", caching_sha2_scramble(kToken, kNonce)));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Reply);
    EXPECT_EQ(step.payload, "\x01\x04");  // perform full authentication
    EXPECT_FALSE(login.in_full_auth_without_tls());
    EXPECT_FALSE(login.wants_key("\x02"));
    step = login.next(std::string(kToken) + '\0');
    ASSERT_EQ(step.kind, ClientLogin::Kind::Token);
    EXPECT_EQ(step.token.reveal(), kToken);
}

TEST(MysqlClientLogin, CachingSha2WithoutTlsUsesCloakroomsRsaKey) {
    ClientLogin login(std::string(kNonce), /*tls=*/false, keys());
    auto step = login.start(
        client_response("caching_sha2_password", caching_sha2_scramble(kToken, kNonce)));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Reply);
    EXPECT_TRUE(login.in_full_auth_without_tls());
    EXPECT_TRUE(login.wants_key("\x02"));
    EXPECT_FALSE(login.wants_key(std::string(kToken) + '\0'));  // a clear answer
    step = login.next("\x02");                                  // request public key
    ASSERT_EQ(step.kind, ClientLogin::Kind::Reply);
    ASSERT_EQ(step.payload[0], '\x01');
    const std::string pem = step.payload.substr(1);
    EXPECT_EQ(pem, small_key()->public_pem);
    auto encrypted = rsa_encrypt_password(pem, kToken, kNonce);
    ASSERT_TRUE(encrypted.ok());
    EXPECT_TRUE(login.wants_key(*encrypted));
    step = login.next(*encrypted);
    ASSERT_EQ(step.kind, ClientLogin::Kind::Token);
    EXPECT_EQ(step.token.reveal(), kToken);
}

TEST(MysqlClientLogin, ClientThatKnowsTheKeyEncryptsStraightAway) {
    ClientLogin login(std::string(kNonce), false, keys());
    (void)login.start(client_response("caching_sha2_password", std::string(32, 'x')));
    // A ciphertext ending in 0x00 reads as a clear answer (1 in 256; OAEP is randomized).
    std::string encrypted;
    do {
        encrypted = *rsa_encrypt_password(small_key()->public_pem, kToken, kNonce);
    } while (encrypted.back() == '\0');
    auto step = login.next(encrypted);
    ASSERT_EQ(step.kind, ClientLogin::Kind::Token);
    EXPECT_EQ(step.token.reveal(), kToken);
}

TEST(MysqlClientLogin, ClearAnswerWithoutTlsIsAccepted) {
    // libmariadb with its ssl option on treats the link as secure even when the server offered
    // no TLS, and answers the full-authentication request in clear. No key is needed for that.
    int key_calls = 0;
    ClientLogin login(std::string(kNonce), false, [&]() -> Result<std::shared_ptr<const RsaKey>> {
        ++key_calls;
        return small_key();
    });
    (void)login.start(client_response("caching_sha2_password", std::string(32, 'x')));
    auto step = login.next(std::string(kToken) + '\0');
    ASSERT_EQ(step.kind, ClientLogin::Kind::Token);
    EXPECT_EQ(step.token.reveal(), kToken);
    EXPECT_EQ(key_calls, 0);
}

TEST(MysqlClientLogin, BadRsaAnswerIsAccessDenied) {
    ClientLogin login(std::string(kNonce), false, keys());
    (void)login.start(client_response("caching_sha2_password", std::string(32, 'x')));
    ASSERT_EQ(login.next("\x02").kind, ClientLogin::Kind::Reply);
    auto step = login.next(std::string(256, '\x42'));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_EQ(err_code(step.payload), kErAccessDenied);
    EXPECT_NE(err_message(step.payload).find("could not be decrypted"), std::string::npos);
    // Nothing more is accepted after a refusal.
    EXPECT_EQ(login.next("x").kind, ClientLogin::Kind::Refuse);
}

TEST(MysqlClientLogin, KeyFailureIsReported) {
    ClientLogin login(std::string(kNonce), false, []() -> Result<std::shared_ptr<const RsaKey>> {
        return make_error("mysql.rsa", "entropy ran out");
    });
    (void)login.start(client_response("caching_sha2_password", std::string(32, 'x')));
    auto step = login.next("\x02");
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_NE(err_message(step.payload).find("entropy ran out"), std::string::npos);
}

TEST(MysqlClientLogin, ClearPasswordPluginNeedsTls) {
    ClientLogin tls(std::string(kNonce), true, keys());
    auto step = tls.start(client_response("mysql_clear_password", std::string(kToken) + '\0'));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Token);
    EXPECT_EQ(step.token.reveal(), kToken);

    ClientLogin plain(std::string(kNonce), false, keys());
    step = plain.start(client_response("mysql_clear_password", std::string(kToken)));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_TRUE(step.token.empty());
    EXPECT_EQ(err_code(step.payload), kErNotSupportedAuthMode);
    EXPECT_NE(err_message(step.payload).find("without TLS"), std::string::npos);
    EXPECT_EQ(err_message(step.payload).find(kToken), std::string::npos);
}

TEST(MysqlClientLogin, NativePasswordGetsAClearError) {
    for (const char* plugin : {"mysql_native_password", "", "client_ed25519"}) {
        ClientLogin login(std::string(kNonce), false, keys());
        auto step = login.start(client_response(plugin, native_password_scramble(kToken, kNonce)));
        ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse) << plugin;
        EXPECT_EQ(err_code(step.payload), kErNotSupportedAuthMode);
        const std::string message = err_message(step.payload);
        EXPECT_NE(message.find("caching_sha2_password"), std::string::npos) << message;
        EXPECT_NE(message.find("--enable-cleartext-plugin"), std::string::npos) << message;
        EXPECT_NE(step.reason.find(*plugin ? plugin : "mysql_native_password"), std::string::npos);
    }
    ClientLogin old(std::string(kNonce), false, keys());
    HandshakeResponse response = client_response("", "");
    response.capabilities &= ~kClientPluginAuth;
    auto step = old.start(response);
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_NE(err_message(step.payload).find("pluggable authentication"), std::string::npos);
}

TEST(MysqlClientLogin, EmptyPasswordIsAccessDenied) {
    ClientLogin login(std::string(kNonce), true, keys());
    auto step = login.start(client_response("caching_sha2_password", ""));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_EQ(err_code(step.payload), kErAccessDenied);
    EXPECT_EQ(parse_err(step.payload)->sql_state, "28000");
    EXPECT_NE(err_message(step.payload).find("'readonly'"), std::string::npos);
    EXPECT_NE(err_message(step.payload).find("Cloakroom token"), std::string::npos);

    ClientLogin blank(std::string(kNonce), true, keys());
    (void)blank.start(client_response("caching_sha2_password", std::string(32, 'x')));
    step = blank.next(std::string(1, '\0'));
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_EQ(err_code(step.payload), kErAccessDenied);
}

TEST(MysqlClientLogin, PacketsOutOfTurnAreRefused) {
    ClientLogin login(std::string(kNonce), true, keys());
    auto step = login.next("early");
    ASSERT_EQ(step.kind, ClientLogin::Kind::Refuse);
    EXPECT_EQ(err_code(step.payload), kErHandshake);
}

// ---- Cloakroom → the database server ----

InitialHandshake server_greeting(std::string plugin) {
    InitialHandshake greeting;
    greeting.server_version = "5.5.5-10.11.6-MariaDB";
    greeting.connection_id = 99;
    greeting.nonce = "ABCDEFGHIJKLMNOPQRST";
    greeting.capabilities = kClientProtocol41 | kClientSecureConnection | kClientPluginAuth |
                            kClientPluginAuthLenencData | kClientConnectWithDb |
                            kClientConnectAttrs | kClientDeprecateEof | kClientMultiResults |
                            kClientTransactions | kClientSessionTrack | kClientSsl |
                            kClientCompress | kClientMultiFactorAuth;
    greeting.charset = 8;
    greeting.status = 2;
    greeting.reserved = std::string(6, '\0') + "\x1f\x00\x00\x00"s;
    greeting.auth_plugin = std::move(plugin);
    return greeting;
}

TEST(MysqlNegotiation, ClientGreetingMirrorsTheServer) {
    const InitialHandshake server = server_greeting("mysql_native_password");
    const InitialHandshake plain = client_greeting(server, std::string(kNonce), false);
    EXPECT_EQ(plain.server_version, server.server_version);
    EXPECT_EQ(plain.connection_id, 99u);
    EXPECT_EQ(plain.charset, 8);
    EXPECT_EQ(plain.status, 2);
    EXPECT_EQ(plain.reserved, server.reserved);  // MariaDB extended capabilities
    EXPECT_EQ(plain.nonce, kNonce);
    EXPECT_EQ(plain.auth_plugin, "caching_sha2_password");
    EXPECT_EQ(plain.capabilities & kClientSsl, 0u);
    EXPECT_EQ(plain.capabilities & kClientMultiFactorAuth, 0u);
    // No compression is offered: Cloakroom reads every command and reply of the session.
    EXPECT_EQ(plain.capabilities & (kClientCompress | kClientZstdCompression), 0u);
    EXPECT_EQ(plain.capabilities | kClientSsl | kClientMultiFactorAuth | kClientCompress,
              server.capabilities);
    const InitialHandshake tls = client_greeting(server, std::string(kNonce), true);
    EXPECT_NE(tls.capabilities & kClientSsl, 0u);
    // A server without TLS: Cloakroom can still offer TLS to its own clients.
    InitialHandshake no_tls = server;
    no_tls.capabilities &= ~kClientSsl;
    EXPECT_NE(client_greeting(no_tls, std::string(kNonce), true).capabilities & kClientSsl, 0u);
}

TEST(MysqlNegotiation, ServerGreetingChecks) {
    InitialHandshake server = server_greeting("mysql_native_password");
    EXPECT_TRUE(check_server_greeting(server, true).ok());
    server.capabilities &= ~kClientSsl;
    EXPECT_TRUE(check_server_greeting(server, false).ok());
    auto downgrade = check_server_greeting(server, true);
    ASSERT_FALSE(downgrade.ok());
    EXPECT_NE(downgrade.error().message.find("does not offer TLS"), std::string::npos);
    server.capabilities &= ~kClientPluginAuth;
    EXPECT_FALSE(check_server_greeting(server, false).ok());
    server = server_greeting("mysql_native_password");
    server.nonce = "short";
    EXPECT_FALSE(check_server_greeting(server, false).ok());
}

TEST(MysqlNegotiation, UpstreamLoginCarriesTheClientsChoices) {
    const InitialHandshake server = server_greeting("mysql_native_password");
    HandshakeResponse client = client_response("caching_sha2_password", "scramble");
    client.capabilities |= kClientSsl | kClientMultiFactorAuth | kClientCompress;
    client.zstd_level = std::nullopt;
    UpstreamLogin login(server, client, "shop_ro", kPassword, /*tls=*/false);
    auto sent = parse_handshake_response(login.handshake_response());
    ASSERT_TRUE(sent.ok()) << sent.error().message;
    EXPECT_EQ(sent->capabilities,
              (client.capabilities & ~(kClientSsl | kClientMultiFactorAuth | kClientCompress)));
    EXPECT_EQ(sent->max_packet, client.max_packet);
    EXPECT_EQ(sent->charset, client.charset);
    EXPECT_EQ(sent->filler, client.filler);
    EXPECT_EQ(sent->user, "shop_ro");
    EXPECT_EQ(sent->database, "shop");
    EXPECT_EQ(sent->connect_attrs, client.connect_attrs);
    EXPECT_EQ(sent->auth_plugin, "mysql_native_password");
    EXPECT_EQ(sent->auth_response, native_password_scramble(kPassword, server.nonce));
    EXPECT_EQ(login.handshake_response().find(kPassword), std::string::npos);

    UpstreamLogin tls(server, client, "shop_ro", kPassword, /*tls=*/true);
    const std::string request = tls.ssl_request();
    EXPECT_TRUE(is_ssl_request(request));
    EXPECT_EQ(tls.handshake_response().substr(0, 32), request);
}

TEST(MysqlNegotiation, LoginOnlyBitsFollowTheServer) {
    InitialHandshake server = server_greeting("caching_sha2_password");
    server.capabilities &= ~(kClientConnectAttrs | kClientPluginAuthLenencData);
    HandshakeResponse client = client_response("caching_sha2_password", "x");
    client.database.reset();
    UpstreamLogin login(server, client, "u", kPassword, false);
    auto sent = parse_handshake_response(login.handshake_response());
    ASSERT_TRUE(sent.ok());
    EXPECT_EQ(sent->capabilities &
                  (kClientConnectAttrs | kClientPluginAuthLenencData | kClientConnectWithDb),
              0u);
    EXPECT_FALSE(sent->connect_attrs.has_value());
    EXPECT_FALSE(sent->database.has_value());
    EXPECT_EQ(sent->auth_response, caching_sha2_scramble(kPassword, server.nonce));
    EXPECT_EQ(upstream_capabilities(0, server.capabilities, true),
              kClientProtocol41 | kClientSecureConnection | kClientPluginAuth | kClientSsl);
}

TEST(MysqlUpstreamLogin, NativeThenOk) {
    UpstreamLogin login(server_greeting("mysql_native_password"),
                        client_response("caching_sha2_password", "x"), "u", kPassword, false);
    const std::string ok = "\x00\x00\x00\x02\x00\x00\x00"s;
    auto step = login.next(ok);
    ASSERT_EQ(step.kind, UpstreamLogin::Kind::Ok);
    EXPECT_EQ(step.payload, ok);
}

TEST(MysqlUpstreamLogin, ErrIsForwarded) {
    UpstreamLogin login(server_greeting("mysql_native_password"),
                        client_response("caching_sha2_password", "x"), "u", kPassword, false);
    const std::string err = build_err(1045, "28000", "Access denied for user 'u'");
    auto step = login.next(err);
    ASSERT_EQ(step.kind, UpstreamLogin::Kind::Err);
    EXPECT_EQ(step.payload, err);
}

TEST(MysqlUpstreamLogin, CachingSha2FastAndFullPaths) {
    const InitialHandshake server = server_greeting("caching_sha2_password");
    const HandshakeResponse client = client_response("caching_sha2_password", "x");
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        EXPECT_EQ(login.next("\x01\x03").kind, UpstreamLogin::Kind::Wait);
        EXPECT_EQ(login.next("\x00\x00\x00\x02\x00\x00\x00"s).kind, UpstreamLogin::Kind::Ok);
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, /*tls=*/true);
        auto step = login.next("\x01\x04");
        ASSERT_EQ(step.kind, UpstreamLogin::Kind::Send);
        EXPECT_EQ(step.payload, std::string(kPassword) + '\0');
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, /*tls=*/false);
        auto step = login.next("\x01\x04");
        ASSERT_EQ(step.kind, UpstreamLogin::Kind::Send);
        EXPECT_EQ(step.payload, "\x02");  // never the password without TLS
        step = login.next("\x01" + small_key()->public_pem);
        ASSERT_EQ(step.kind, UpstreamLogin::Kind::Send);
        auto decrypted = rsa_decrypt_password(small_key()->key.get(), step.payload, server.nonce);
        ASSERT_TRUE(decrypted.ok());
        EXPECT_EQ(decrypted->reveal(), kPassword);
        // A bad key from the server is a failure, not a crash.
        UpstreamLogin again(server, client, "u", kPassword, false);
        (void)again.next("\x01\x04");
        EXPECT_EQ(again.next("\x01not a pem").kind, UpstreamLogin::Kind::Fail);
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        EXPECT_EQ(login.next("\x01\x07").kind, UpstreamLogin::Kind::Fail);
    }
}

TEST(MysqlUpstreamLogin, AuthSwitchUsesTheNewNonce) {
    const std::string new_nonce = "01234567890123456789";
    UpstreamLogin login(server_greeting("caching_sha2_password"),
                        client_response("caching_sha2_password", "x"), "u", kPassword, false);
    auto step = login.next(build_auth_switch("mysql_native_password", new_nonce));
    ASSERT_EQ(step.kind, UpstreamLogin::Kind::Send);
    EXPECT_EQ(step.payload, native_password_scramble(kPassword, new_nonce));
    // AuthMoreData is not expected after switching to native.
    EXPECT_EQ(login.next("\x01\x04").kind, UpstreamLogin::Kind::Fail);

    UpstreamLogin sha2(server_greeting("mysql_native_password"),
                       client_response("caching_sha2_password", "x"), "u", kPassword, false);
    step = sha2.next(build_auth_switch("caching_sha2_password", new_nonce));
    ASSERT_EQ(step.kind, UpstreamLogin::Kind::Send);
    EXPECT_EQ(step.payload, caching_sha2_scramble(kPassword, new_nonce));
    EXPECT_EQ(sha2.next("\x01\x03").kind, UpstreamLogin::Kind::Wait);
}

TEST(MysqlUpstreamLogin, AuthSwitchRefusals) {
    const InitialHandshake server = server_greeting("mysql_native_password");
    const HandshakeResponse client = client_response("caching_sha2_password", "x");
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        auto step = login.next(build_auth_switch("mysql_clear_password", ""));
        ASSERT_EQ(step.kind, UpstreamLogin::Kind::Fail);
        EXPECT_NE(step.error.find("without TLS"), std::string::npos);
        EXPECT_EQ(step.error.find(kPassword), std::string::npos);
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, true);
        auto step = login.next(build_auth_switch("mysql_clear_password", ""));
        ASSERT_EQ(step.kind, UpstreamLogin::Kind::Send);
        EXPECT_EQ(step.payload, std::string(kPassword) + '\0');
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        auto step = login.next(build_auth_switch("client_ed25519", "x"));
        ASSERT_EQ(step.kind, UpstreamLogin::Kind::Fail);
        EXPECT_NE(step.error.find("client_ed25519"), std::string::npos);
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        EXPECT_EQ(login.next("\xfe"s).kind, UpstreamLogin::Kind::Fail);  // old_password
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        const std::string sw = build_auth_switch("mysql_native_password", std::string(20, 'n'));
        EXPECT_EQ(login.next(sw).kind, UpstreamLogin::Kind::Send);
        EXPECT_EQ(login.next(sw).kind, UpstreamLogin::Kind::Send);
        EXPECT_EQ(login.next(sw).kind, UpstreamLogin::Kind::Fail);  // endless switching
    }
    {
        UpstreamLogin login(server, client, "u", kPassword, false);
        EXPECT_EQ(login.next(build_auth_switch("mysql_native_password", "short")).kind,
                  UpstreamLogin::Kind::Fail);
        EXPECT_EQ(login.next("").kind, UpstreamLogin::Kind::Fail);
        EXPECT_EQ(login.next("\x05junk").kind, UpstreamLogin::Kind::Fail);
    }
}

}  // namespace
}  // namespace cloakroom::db::mysql
