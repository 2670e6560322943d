// A filter on one direction of the two-way pump (two_way_pump.hpp): sees every chunk that
// direction reads, decides what is written on, and may stop the session. The database gateways
// use one per direction (client commands checked, server replies redacted); a blind tunnel uses
// none; a WebSocket relay will parse frames with one (docs/architecture.md, "The two-way pump").
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace cloakroom::runtime {

class PumpFilter {
  public:
    enum class Verdict : bool { Continue, Stop };

    virtual ~PumpFilter() = default;

    // `chunk` as read (or the bytes handed over before the relay began); appends to `out` what
    // to write to the other side. Stop: `out` is still written, then this direction ends and
    // with it the session.
    virtual Verdict feed(std::string_view chunk, std::string& out) = 0;

    // Why the session ended, when this filter stopped it ("ended_by" in the result).
    virtual std::string stop_reason() const { return "filter"; }

    // After Stop: whether the other direction still owes this direction's source something it
    // must get (e.g. the replies to commands sent before a protocol error, and the error in
    // their place) and is left to finish on its own, for at most the pump's grace period.
    // Otherwise the destination is closed at once, which ends the other direction.
    virtual bool lets_other_direction_finish() const { return false; }

    // After Stop, once the other direction has ended: bytes for this direction's source (e.g.
    // a protocol error for the client), or "" for none.
    virtual std::string last_words() { return {}; }
};

}  // namespace cloakroom::runtime
