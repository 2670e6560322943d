#include "db/mysql/upstream_login.hpp"

#include <cstdio>
#include <utility>

#include "db/mysql/auth_crypto.hpp"
#include "db/mysql/protocol.hpp"

namespace cloakroom::db::mysql {

namespace {

constexpr std::uint32_t kRequired = kClientProtocol41 | kClientSecureConnection | kClientPluginAuth;

bool supported_plugin(std::string_view plugin) {
    return plugin == kNativePassword || plugin == kCachingSha2Password;
}

}  // namespace

Result<void> check_server_greeting(const InitialHandshake& server, bool tls) {
    if ((server.capabilities & kRequired) != kRequired) {
        return make_error("mysql.upstream",
                          "the database server lacks protocol 4.1 pluggable authentication "
                          "(server version " +
                              server.server_version + ")");
    }
    if (tls && (server.capabilities & kClientSsl) == 0) {
        return make_error("mysql.upstream",
                          "the database server does not offer TLS (no CLIENT_SSL), but the "
                          "database's tls mode requires it: enable TLS on the server (ssl_cert, "
                          "ssl_key) or set tls = \"disable\"");
    }
    if (server.nonce.size() < kNonceSize) {
        return make_error("mysql.upstream", "the database server's greeting has a nonce of " +
                                                std::to_string(server.nonce.size()) +
                                                " bytes (expected 20)");
    }
    return {};
}

std::uint32_t client_greeting_capabilities(std::uint32_t server_capabilities, bool offer_tls) {
    // No compression: Cloakroom reads every command (COM_CHANGE_USER is refused) and every reply
    // (secrets are redacted), which a compressed session would hide.
    std::uint32_t caps = server_capabilities & ~(kClientSsl | kClientMultiFactorAuth |
                                                 kClientCompress | kClientZstdCompression);
    if (offer_tls) caps |= kClientSsl;
    return caps;
}

InitialHandshake client_greeting(const InitialHandshake& server, std::string nonce,
                                 bool offer_tls) {
    InitialHandshake out = server;
    out.nonce = std::move(nonce);
    out.capabilities = client_greeting_capabilities(server.capabilities, offer_tls);
    out.auth_plugin = std::string(kCachingSha2Password);
    return out;
}

std::uint32_t upstream_capabilities(std::uint32_t client_capabilities,
                                    std::uint32_t server_capabilities, bool tls) {
    std::uint32_t caps = client_capabilities & ~(kClientSsl | kClientMultiFactorAuth |
                                                 kClientCompress | kClientZstdCompression);
    if (tls) caps |= kClientSsl;
    caps |= kRequired;
    for (const std::uint32_t login_only : {kClientConnectAttrs, kClientPluginAuthLenencData}) {
        if ((server_capabilities & login_only) == 0) caps &= ~login_only;
    }
    return caps;
}

UpstreamLogin::UpstreamLogin(const InitialHandshake& server, const HandshakeResponse& client,
                             std::string user, std::string_view password, bool tls)
    : response_(client), password_(password), tls_(tls), nonce_(server.nonce) {
    response_.capabilities = upstream_capabilities(client.capabilities, server.capabilities, tls);
    if (!response_.database) response_.capabilities &= ~kClientConnectWithDb;
    if ((response_.capabilities & kClientConnectWithDb) == 0) response_.database.reset();
    if ((response_.capabilities & kClientConnectAttrs) == 0) response_.connect_attrs.reset();
    response_.user = std::move(user);
    plugin_ =
        supported_plugin(server.auth_plugin) ? server.auth_plugin : std::string(kNativePassword);
    response_.auth_plugin = plugin_;
    response_.auth_response.clear();  // computed in handshake_response()
}

std::string UpstreamLogin::scramble(std::string_view plugin) const {
    if (plugin == kCachingSha2Password) return caching_sha2_scramble(password_, nonce_);
    return native_password_scramble(password_, nonce_);
}

std::string UpstreamLogin::ssl_request() const {
    return build_ssl_request(response_);
}

std::string UpstreamLogin::handshake_response() const {
    HandshakeResponse with_auth = response_;
    with_auth.auth_response = scramble(plugin_);
    std::string out = build_handshake_response(with_auth);
    SecretBytes wipe_scramble(std::move(with_auth.auth_response));
    return out;
}

UpstreamLogin::Step UpstreamLogin::send(std::string payload) {
    Step step;
    step.kind = Kind::Send;
    step.payload = std::move(payload);
    return step;
}

UpstreamLogin::Step UpstreamLogin::fail(std::string error) {
    Step step;
    step.kind = Kind::Fail;
    step.error = std::move(error);
    return step;
}

UpstreamLogin::Step UpstreamLogin::next(std::string_view payload) {
    if (payload.empty()) return fail("the database server sent an empty packet during login");
    const auto header = static_cast<std::uint8_t>(payload[0]);
    if (header == kOkHeader) {
        Step step;
        step.kind = Kind::Ok;
        step.payload = std::string(payload);
        return step;
    }
    if (header == kErrHeader) {
        Step step;
        step.kind = Kind::Err;
        step.payload = std::string(payload);
        return step;
    }
    if (header == kAuthSwitchHeader) {
        auto request = parse_auth_switch(payload);
        if (!request) return fail(request.error().message);
        if (++switches_ > 2) return fail("the database server keeps switching authentication");
        awaiting_key_ = false;
        plugin_ = request->plugin;
        nonce_ = request->data;
        if (supported_plugin(plugin_)) {
            if (nonce_.size() < kNonceSize) {
                return fail("the database server's authentication switch has a nonce of " +
                            std::to_string(nonce_.size()) + " bytes (expected 20)");
            }
            return send(scramble(plugin_));
        }
        if (plugin_ == kClearPassword) {
            if (!tls_) {
                return fail(
                    "the database server asks for the password in clear (mysql_clear_password) "
                    "on a connection without TLS: Cloakroom refuses; set the database's tls mode");
            }
            std::string clear(password_);
            clear.push_back('\0');
            return send(std::move(clear));
        }
        return fail("the database server asks for the authentication plugin '" + plugin_ +
                    "', which Cloakroom does not support (it supports mysql_native_password and "
                    "caching_sha2_password; for MariaDB create the user IDENTIFIED VIA "
                    "mysql_native_password)");
    }
    if (header == kAuthMoreDataHeader && plugin_ == kCachingSha2Password) {
        const std::string_view data = payload.substr(1);
        if (awaiting_key_) {
            awaiting_key_ = false;
            auto encrypted = rsa_encrypt_password(data, password_, nonce_);
            if (!encrypted) {
                return fail("cannot encrypt the password for the database server: " +
                            encrypted.error().message);
            }
            return send(std::move(*encrypted));
        }
        if (data == "\x03") {  // fast authentication succeeded; OK follows
            Step step;
            step.kind = Kind::Wait;
            return step;
        }
        if (data == "\x04") {  // full authentication
            if (tls_) {
                std::string clear(password_);
                clear.push_back('\0');
                return send(std::move(clear));
            }
            awaiting_key_ = true;
            return send(std::string("\x02", 1));  // request the server's public key
        }
        return fail("unexpected caching_sha2_password data from the database server");
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", header);
    return fail(std::string("unexpected packet (") + hex +
                ") from the database server during login");
}

}  // namespace cloakroom::db::mysql
