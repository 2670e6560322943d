// Cloakroom as the MySQL client towards the database server, and the capability bookkeeping that
// joins the two halves. After login the session is a byte relay, so the client must talk to
// Cloakroom with exactly the options the server then agrees with Cloakroom: Cloakroom greets the
// client with the server's version, connection id, capabilities, charset, status and MariaDB
// extended capabilities, and logs in upstream with the client's capabilities, max packet size,
// charset, filler (MariaDB extended capabilities), database, connection attributes and zstd level.
// Only CLIENT_SSL (per side), the authentication bits and multi-factor authentication (never
// offered) differ. Pure: the session does the I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "db/mysql/messages.hpp"
#include "util/result.hpp"

namespace cloakroom::db::mysql {

// A greeting Cloakroom can work with: protocol 4.1 with secure connection and plugin auth, and
// CLIENT_SSL when `tls` (never downgrade). Errors: "mysql.upstream".
Result<void> check_server_greeting(const InitialHandshake& server, bool tls);

// Capabilities in Cloakroom's greeting to the agent's client.
std::uint32_t client_greeting_capabilities(std::uint32_t server_capabilities, bool offer_tls);

// Cloakroom's greeting to the agent's client: the server's, with Cloakroom's nonce,
// caching_sha2_password and client_greeting_capabilities.
InitialHandshake client_greeting(const InitialHandshake& server, std::string nonce, bool offer_tls);

// Capabilities Cloakroom sends the server: the client's, CLIENT_SSL per `tls`, plugin auth
// and secure connection set, multi-factor authentication cleared, and the login-packet-only bits
// (connection attributes, length-encoded auth data) only where the server has them.
std::uint32_t upstream_capabilities(std::uint32_t client_capabilities,
                                    std::uint32_t server_capabilities, bool tls);

class UpstreamLogin {
  public:
    enum class Kind {
        Send,  // send `payload` (next sequence id), then pass the server's next packet to next()
        Wait,  // nothing to send: pass the server's next packet to next()
        Ok,    // logged in: `payload` is the server's OK packet (forward it to the client)
        Err,   // refused: `payload` is the server's ERR packet (forward it to the client)
        Fail,  // a protocol problem or an unsupported request: `error` (no secret in it)
    };
    struct Step {
        Kind kind = Kind::Fail;
        std::string payload;
        std::string error;
    };

    // `password` must outlive this object. `tls`: the upstream connection is (about to be) TLS.
    UpstreamLogin(const InitialHandshake& server, const HandshakeResponse& client, std::string user,
                  std::string_view password, bool tls);

    // The login packet's fields (capabilities etc.) as sent.
    const HandshakeResponse& response() const { return response_; }
    std::string ssl_request() const;
    // Holds the password scramble: never log it.
    std::string handshake_response() const;
    // A packet from the server after the login packet (or after a Send).
    Step next(std::string_view payload);

  private:
    Step send(std::string payload);
    Step fail(std::string error);
    std::string scramble(std::string_view plugin) const;

    HandshakeResponse response_;
    std::string_view password_;
    bool tls_ = false;
    std::string plugin_;
    std::string nonce_;
    bool awaiting_key_ = false;
    int switches_ = 0;
};

}  // namespace cloakroom::db::mysql
