// What every protocol session shares around its own login logic: the login deadline, the
// upstream stream, the audit record, and the one way a session ends (close both sides, write
// one audit line). Protocol sessions derive from it and implement their handshake only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "db/audit.hpp"
#include "db/session.hpp"
#include "db/stream.hpp"
#include "runtime/exchange.hpp"
#include "runtime/session_registry.hpp"

namespace cloakroom::db {

class SessionFrame {
  protected:
    SessionFrame(Session& session, std::string_view protocol);

    // Starts the login deadline on the client stream (and the upstream once dialed: watch it).
    void start_login_deadline(const net::any_io_executor& executor);
    // Closes both streams, stops the deadline and writes the audit record.
    void finish();

    void record(std::string_view decision, std::string reason);
    // After a granted login: the session is live under its token (runtime/session_registry.hpp)
    // until it ends; ending it from outside closes both streams.
    void register_live(std::string_view token_id, std::optional<std::int64_t> minted);
    // The reason for an I/O failure, naming the deadline when that is what closed the stream.
    std::string io_reason(std::string_view what) const;

    Session& s_;
    // The session's exchange: its record is written once, by finish() or, should the session
    // end any other way, by the exchange's destructor.
    runtime::Exchange exchange_;
    DbAuditRecord& audit_ = exchange_.record();
    std::optional<DbStream> upstream_;
    std::optional<Deadline> deadline_;  // after upstream_: destroyed first
    std::unique_ptr<runtime::SessionRegistry::Registration> live_;  // destroyed before streams
};

}  // namespace cloakroom::db
