// Cloakroom logging in to the PostgreSQL server as the configured user: a pure state machine fed
// with the server's Authentication* requests, answering each with the frontend message to send.
// Supports trust (AuthenticationOk at once), cleartext password, MD5 and SASL SCRAM-SHA-256 (with
// tls-server-end-point channel binding, SCRAM-SHA-256-PLUS, when on TLS). A SCRAM login is only
// complete once the server proved it knows the password (its final signature verified).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "db/postgres/pg_protocol.hpp"
#include "db/postgres/pg_scram.hpp"
#include "util/result.hpp"

namespace cloakroom::db::postgres {

// Error code of this module's errors (the session answers the client with SQLSTATE 08006).
inline constexpr std::string_view kUpstreamAuthError = "pg.upstream_auth";

struct UpstreamAuthOptions {
    std::string user;  // upstream user name (MD5 salts with it)
    // None: the login has no password (trust). Copied once, in place, by UpstreamAuth (which
    // cannot move), and wiped when it is destroyed.
    std::optional<std::string_view> password;
    bool tls = false;  // the upstream connection is encrypted
    // tls-server-end-point data of the server certificate, when it could be computed.
    std::optional<std::string> channel_binding;
    std::string nonce;  // SCRAM client nonce; empty = random (tests set it)
};

class UpstreamAuth {
  public:
    explicit UpstreamAuth(UpstreamAuthOptions options);
    ~UpstreamAuth();
    UpstreamAuth(const UpstreamAuth&) = delete;
    UpstreamAuth& operator=(const UpstreamAuth&) = delete;

    // One AuthenticationXxx request → the message to send the server ("" when none).
    Result<std::string> on_request(const AuthRequest& request);
    bool authenticated() const { return state_ == State::Done; }
    // "trust", "password", "md5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS" (for logs and audit).
    std::string_view method() const { return method_; }

  private:
    enum class State { Start, SaslFirstSent, SaslFinalSent, AwaitingOk, Done };

    Result<std::string> start_sasl(std::string_view data);
    Result<std::string_view> password() const;

    UpstreamAuthOptions options_;  // without the password
    std::optional<std::string> password_;
    State state_ = State::Start;
    std::string method_ = "trust";
    std::unique_ptr<ScramClient> scram_;
};

}  // namespace cloakroom::db::postgres
