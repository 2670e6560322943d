#include "db/mysql/client_login.hpp"

#include "db/token_shape.hpp"

#include <openssl/evp.h>

#include <utility>

#include "db/mysql/protocol.hpp"

namespace cloakroom::db::mysql {

namespace {

std::string_view without_trailing_nul(std::string_view data) {
    if (!data.empty() && data.back() == '\0') data.remove_suffix(1);
    return data;
}

// caching_sha2_password's one-byte requests and answers.
constexpr std::string_view kPerformFullAuthentication = "\x04";
constexpr std::string_view kRequestPublicKey = "\x02";

}  // namespace

ClientLogin::ClientLogin(std::string nonce, bool tls, KeySource keys)
    : nonce_(std::move(nonce)), tls_(tls), keys_(std::move(keys)) {}

ClientLogin::Step ClientLogin::refuse(std::uint16_t code, std::string_view sql_state,
                                      std::string message) {
    state_ = State::Done;
    Step step;
    step.kind = Kind::Refuse;
    step.payload = build_err(code, sql_state, "Cloakroom: " + message);
    step.reason = std::move(message);
    return step;
}

ClientLogin::Step ClientLogin::access_denied(std::string_view detail) {
    if (looks_like_token(user_, token_prefix_)) {
        return refuse(kErAccessDenied, "28000", "access denied: " + std::string(kTokenAsUserHint));
    }
    return refuse(kErAccessDenied, "28000",
                  "access denied for user '" + user_ + "': " + std::string(detail));
}

ClientLogin::Step ClientLogin::token(std::string_view password) {
    password = without_trailing_nul(password);
    if (password.empty()) {
        return access_denied("no password given; the password must be your Cloakroom token");
    }
    state_ = State::Done;
    Step step;
    step.kind = Kind::Token;
    step.token = SecretBytes(std::string(password));
    return step;
}

std::shared_ptr<const RsaKey> ClientLogin::fetch_key() {
    if (!keys_) return nullptr;
    auto key = keys_();
    if (!key) {
        key_error_ = key.error().message;
        return nullptr;
    }
    return *key;
}

ClientLogin::Step ClientLogin::decrypt(std::string_view ciphertext) {
    const auto key = fetch_key();
    if (!key) return refuse(kErUnknown, "HY000", "no RSA key: " + key_error_);
    auto password = rsa_decrypt_password(key->key.get(), ciphertext, nonce_);
    if (!password) {
        return access_denied("the RSA-encrypted password could not be decrypted (" +
                             password.error().message + ")");
    }
    return token(password->reveal());
}

ClientLogin::Step ClientLogin::start(const HandshakeResponse& response) {
    if (state_ != State::Start) {
        return refuse(kErHandshake, "08S01", "unexpected login packet");
    }
    user_ = response.user;
    if ((response.capabilities & kClientPluginAuth) == 0) {
        return refuse(kErNotSupportedAuthMode, "08004",
                      "the client does not support pluggable authentication, so it cannot give "
                      "Cloakroom the token it needs as the password: " +
                          std::string(kClientAuthHint));
    }
    const std::string plugin = response.auth_plugin.value_or("");
    if (plugin == kCachingSha2Password) {
        if (response.auth_response.empty()) {
            return access_denied(
                "no password given (using password: NO); the password must be your Cloakroom "
                "token");
        }
        // The scramble only proves knowledge of the token; Cloakroom needs the token itself.
        state_ = State::FullAuth;
        Step step;
        step.kind = Kind::Reply;
        step.payload = build_auth_more_data(kPerformFullAuthentication);
        return step;
    }
    if (plugin == kClearPassword) {
        if (!tls_) {
            return refuse(kErNotSupportedAuthMode, "08004",
                          "the client sent its password with mysql_clear_password on a connection "
                          "without TLS, which Cloakroom refuses: connect with TLS (the database "
                          "needs client_tls = \"optional\" or \"required\") or use "
                          "caching_sha2_password");
        }
        return token(response.auth_response);
    }
    return refuse(kErNotSupportedAuthMode, "08004",
                  "the client offered the authentication plugin '" +
                      (plugin.empty() ? std::string(kNativePassword) : plugin) +
                      "', which never reveals the password, and Cloakroom needs the token itself "
                      "as the password: " +
                      std::string(kClientAuthHint));
}

bool ClientLogin::wants_key(std::string_view payload) const {
    if (tls_) return false;
    if (state_ == State::RsaAnswer) return true;
    return state_ == State::FullAuth && !payload.empty() &&
           (payload == kRequestPublicKey || payload.back() != '\0' ||
            payload.size() == kProcessKeyBits / 8);
}

ClientLogin::Step ClientLogin::next(std::string_view payload) {
    switch (state_) {
        case State::FullAuth: {
            if (tls_) return token(payload);
            if (payload == kRequestPublicKey) {
                const auto key = fetch_key();
                if (!key) return refuse(kErUnknown, "HY000", "no RSA key: " + key_error_);
                state_ = State::RsaAnswer;
                Step step;
                step.kind = Kind::Reply;
                step.payload = build_auth_more_data(key->public_pem);
                return step;
            }
            // A client that already holds Cloakroom's public key encrypts straight away: a
            // key-sized payload is tried as ciphertext first (it ends in a NUL byte 1 time in
            // 256, so the last byte cannot tell the two apart).
            const bool maybe_cipher =
                payload.back() != '\0' || payload.size() == kProcessKeyBits / 8;
            if (const auto key = maybe_cipher ? fetch_key() : nullptr;
                key &&
                payload.size() == static_cast<std::size_t>(EVP_PKEY_get_size(key->key.get()))) {
                Step step = decrypt(payload);
                if (step.kind == Kind::Token || payload.back() != '\0') return step;
            }
            // A client that considers the link secure (MariaDB Connector/C with its ssl option
            // on, when the server offered no TLS) sends the password in clear, NUL-terminated.
            return token(payload);
        }
        case State::RsaAnswer:
            return decrypt(payload);
        case State::Start:
        case State::Done:
            break;
    }
    return refuse(kErHandshake, "08S01", "unexpected packet during login");
}

}  // namespace cloakroom::db::mysql
