// Cloakroom as the MySQL server towards the agent's client: from the client's login packet to its
// password (the Cloakroom token) in readable form. Cloakroom greets with caching_sha2_password
// and always asks for "full authentication"; the client then sends the password in clear over
// TLS (or when it considers the link secure), or RSA-encrypted under Cloakroom's key after asking
// for it. mysql_clear_password over TLS works too. mysql_native_password only ever gives a hash,
// so such a client gets an error saying what to enable. Pure: the session does the I/O.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "db/mysql/auth_crypto.hpp"
#include "db/mysql/messages.hpp"
#include "db/mysql/rsa_key.hpp"
#include "util/result.hpp"

namespace cloakroom::db::mysql {

// What an agent's client must do, for error messages and docs.
inline constexpr std::string_view kClientAuthHint =
    "use caching_sha2_password (the default of MySQL 8 clients, PyMySQL and MariaDB Connector/C "
    "3.x; MariaDB/MySQL CLI: --default-auth=caching_sha2_password) or, over TLS, the cleartext "
    "plugin (--ssl --enable-cleartext-plugin --default-auth=mysql_clear_password)";

class ClientLogin {
  public:
    enum class Kind {
        Reply,   // send `payload` to the client, then pass its next packet to next()
        Token,   // done: `token` is the client's password
        Refuse,  // send `payload` (an ERR) and close; `reason` says why (no secret in it)
    };
    struct Step {
        Kind kind = Kind::Refuse;
        std::string payload;
        SecretBytes token;
        std::string reason;
    };
    using KeySource = std::function<Result<std::shared_ptr<const RsaKey>>()>;

    // `nonce`: the one in Cloakroom's greeting. `tls`: the client connection is encrypted.
    ClientLogin(std::string nonce, bool tls, KeySource keys);

    // The configured token prefix: a user name that looks like a token is never quoted back.
    void set_token_prefix(std::string prefix) { token_prefix_ = std::move(prefix); }

    Step start(const HandshakeResponse& response);
    // The client's next packet after a Reply.
    Step next(std::string_view payload);

    // Whether next(payload) will use Cloakroom's RSA key (which the session can then make sure
    // exists beforehand, off its I/O thread: generating it takes a moment).
    bool wants_key(std::string_view payload) const;
    // Waiting for the client's answer to the full-authentication request without TLS.
    bool in_full_auth_without_tls() const { return state_ == State::FullAuth && !tls_; }

  private:
    enum class State { Start, FullAuth, RsaAnswer, Done };

    Step refuse(std::uint16_t code, std::string_view sql_state, std::string message);
    Step access_denied(std::string_view detail);
    Step token(std::string_view password);
    Step decrypt(std::string_view ciphertext);
    std::shared_ptr<const RsaKey> fetch_key();  // nullptr (key_error_ set) when none

    std::string nonce_;
    bool tls_ = false;
    KeySource keys_;
    State state_ = State::Start;
    std::string user_;
    std::string key_error_ = "no RSA key source";
    std::string token_prefix_ = "acm_";
};

}  // namespace cloakroom::db::mysql
