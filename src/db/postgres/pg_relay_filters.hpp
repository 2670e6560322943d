// The two filters of a relayed PostgreSQL session (pure, no I/O).
//
// Client -> server (ClientGuard). After login PostgreSQL has no way to log in again, and
// Cloakroom makes sure nothing that looks like one is relayed: a PasswordMessage / SASLResponse /
// GSSResponse ('p'), a second StartupMessage, SSLRequest, GSSENCRequest or CancelRequest (their
// first byte is 0, no message type) and every other byte that is no frontend message type end the
// session with a FATAL 08P01 error, as the server itself would answer them; the bytes never reach
// the server. Other messages pass unchanged, their bodies streamed.
//
// Server -> client (ReplyGuard). Every message body passes a same-length redactor (the session's
// secrets become '*', so the length words stay valid): DataRow, ErrorResponse, NoticeResponse,
// ParameterStatus, NotificationResponse, CopyData, RowDescription alike. The redactor's held-back
// tail is flushed at the end of each message, so a message is never delayed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/redactor.hpp"

namespace cloakroom::db::postgres {

// Whether a client may send a message of this type after login.
bool frontend_type_allowed(char type);

class ClientGuard {
  public:
    // Appends what the server must receive; false once the client sent a refused message (see
    // error()); the session then ends.
    bool feed(std::string_view chunk, std::string& to_server);
    const std::string& error() const { return error_; }

  private:
    bool fail(std::string error);

    std::string header_;
    std::uint64_t left_ = 0;
    bool in_body_ = false;
    bool failed_ = false;
    std::string error_;
};

class ReplyGuard {
  public:
    explicit ReplyGuard(std::vector<std::string_view> secrets);
    // Appends what the client must receive; false when the server sent something that is no
    // message (a length below 4): the session ends.
    bool feed(std::string_view chunk, std::string& to_client);
    // Between messages: a message of Cloakroom's own may be sent now.
    bool at_boundary() const { return !in_body_ && header_.empty(); }
    std::size_t redactions() const { return redactor_.redactions(); }

  private:
    secrets::Redactor redactor_;
    std::string header_;
    std::uint64_t left_ = 0;
    bool in_body_ = false;
    bool broken_ = false;
};

}  // namespace cloakroom::db::postgres
