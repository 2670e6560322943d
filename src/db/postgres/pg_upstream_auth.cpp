#include "db/postgres/pg_upstream_auth.hpp"

#include <openssl/crypto.h>

#include <algorithm>

namespace cloakroom::db::postgres {

namespace {

Error auth_error(std::string message) {
    return make_error(std::string(kUpstreamAuthError), std::move(message));
}

std::string method_name(std::uint32_t code) {
    switch (code) {
        case kAuthKerberosV5:
            return "Kerberos V5";
        case kAuthScmCredential:
            return "SCM credentials";
        case kAuthGss:
        case kAuthGssContinue:
            return "GSSAPI";
        case kAuthSspi:
            return "SSPI";
        default:
            return "request code " + std::to_string(code);
    }
}

}  // namespace

UpstreamAuth::UpstreamAuth(UpstreamAuthOptions options) : options_(std::move(options)) {
    if (options_.password) password_.emplace(*options_.password);
    options_.password.reset();  // the caller's buffer may not outlive us
}

UpstreamAuth::~UpstreamAuth() {
    if (password_) OPENSSL_cleanse(password_->data(), password_->size());
}

Result<std::string_view> UpstreamAuth::password() const {
    if (!password_) {
        return auth_error("the server asks for a password but the login has none configured");
    }
    return std::string_view(*password_);
}

Result<std::string> UpstreamAuth::on_request(const AuthRequest& request) {
    if (state_ == State::Done) return auth_error("authentication request after AuthenticationOk");
    switch (request.code) {
        case kAuthOk:
            if (state_ == State::SaslFirstSent || state_ == State::SaslFinalSent) {
                // Accepting this would let a server that never proved it knows the password
                // (SCRAM mutual authentication) impersonate the database.
                return auth_error(
                    "the server ended SCRAM authentication without proving it knows "
                    "the password");
            }
            state_ = State::Done;
            return std::string{};
        case kAuthCleartextPassword: {
            if (state_ != State::Start) return auth_error("unexpected password request");
            auto secret = password();
            if (!secret) return secret.error();
            method_ = "password";
            state_ = State::AwaitingOk;
            return build_password_message(*secret);
        }
        case kAuthMd5Password: {
            if (state_ != State::Start) return auth_error("unexpected MD5 password request");
            auto secret = password();
            if (!secret) return secret.error();
            method_ = "md5";
            state_ = State::AwaitingOk;
            std::string response = md5_password_response(options_.user, *secret, request.data);
            std::string message = build_password_message(response);
            OPENSSL_cleanse(response.data(), response.size());
            return message;
        }
        case kAuthSasl:
            if (state_ != State::Start) return auth_error("unexpected SASL request");
            return start_sasl(request.data);
        case kAuthSaslContinue: {
            if (state_ != State::SaslFirstSent || !scram_) {
                return auth_error("unexpected SASLContinue message");
            }
            auto final_message = scram_->client_final(request.data);
            if (!final_message) return auth_error(final_message.error().message);
            state_ = State::SaslFinalSent;
            return build_sasl_response(*final_message);
        }
        case kAuthSaslFinal: {
            if (state_ != State::SaslFinalSent || !scram_) {
                return auth_error("unexpected SASLFinal message");
            }
            auto verified = scram_->verify_server_final(request.data);
            if (!verified) return auth_error(verified.error().message);
            state_ = State::AwaitingOk;
            return std::string{};
        }
        default:
            return auth_error(
                "the server asks for an authentication method Cloakroom does not "
                "support (" +
                method_name(request.code) +
                "); use scram-sha-256, md5, password or trust for this user");
    }
}

Result<std::string> UpstreamAuth::start_sasl(std::string_view data) {
    auto mechanisms = parse_sasl_mechanisms(data);
    if (!mechanisms) return auth_error(mechanisms.error().message);
    const auto offers = [&](std::string_view name) {
        return std::find(mechanisms->begin(), mechanisms->end(), name) != mechanisms->end();
    };
    const bool plus = offers(kScramSha256Plus);
    const bool plain = offers(kScramSha256);
    ScramClient::Binding binding = ScramClient::Binding::None;
    std::string binding_data;
    if (plus && options_.tls && options_.channel_binding) {
        binding = ScramClient::Binding::ServerEndPoint;
        binding_data = *options_.channel_binding;
    } else if (plain) {
        // "y": we could bind but the server did not offer it (lets it detect a downgrade).
        // "n": not on TLS, or the certificate's hash is unusable for binding.
        binding = options_.tls && !plus ? ScramClient::Binding::NotAdvertised
                                        : ScramClient::Binding::None;
    } else if (plus) {
        return auth_error(options_.tls ? "the server offers only SCRAM-SHA-256-PLUS, and its "
                                         "certificate cannot be used for channel binding"
                                       : "the server offers only SCRAM-SHA-256-PLUS, which needs "
                                         "TLS (set tls for this database)");
    } else {
        std::string offered;
        for (const auto& name : *mechanisms) {
            if (!offered.empty()) offered += ", ";
            offered += name.substr(0, 40);
        }
        return auth_error("the server offers no supported SASL mechanism (offered: " + offered +
                          ")");
    }
    auto secret = password();
    if (!secret) return secret.error();
    std::string nonce = options_.nonce;
    if (nonce.empty()) {
        auto random = make_scram_nonce();
        if (!random) return auth_error(random.error().message);
        nonce = std::move(*random);
    }
    // PostgreSQL ignores the SCRAM user name (it uses the startup packet's); libpq sends "".
    scram_ = std::make_unique<ScramClient>("", *secret, std::move(nonce), binding,
                                           std::move(binding_data));
    method_ = std::string(scram_->mechanism());
    state_ = State::SaslFirstSent;
    return build_sasl_initial_response(scram_->mechanism(), scram_->client_first());
}

}  // namespace cloakroom::db::postgres
