// One exchange: an HTTP request (any front end), a CONNECT, and later an HTTP/2 stream or a
// database session. It owns the exchange's audit record and writes it exactly once, whatever
// the exit: an explicit finish() (before the answer goes out, so that whoever reads the answer
// finds the record), or the destructor for an exchange abandoned midway (the agent went away,
// a relay failed, an internal error unwound the coroutine). Audit is therefore written by
// construction, not remembered at each return (docs/architecture.md, "Audit").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/audit.hpp"
#include "runtime/rate_limit.hpp"
#include "runtime/refusal.hpp"

namespace cloakroom::runtime {

// Audit decisions, one word each.
inline constexpr std::string_view kAllow = "allow";              // credential injected
inline constexpr std::string_view kPassthrough = "passthrough";  // no token: sent unchanged
inline constexpr std::string_view kForward = "forward";          // [allow] host, plain HTTP
inline constexpr std::string_view kTunnel = "tunnel";            // [allow] host, blind tunnel
inline constexpr std::string_view kDeny = "deny";                // refused by Cloakroom
inline constexpr std::string_view kError = "error";              // failed after it was allowed

class Exchange {
  public:
    // `sink` may be null (no audit: tests). `kind` is kAuditHttp, kAuditTunnel, ...
    Exchange(std::shared_ptr<AuditSink> sink, std::string_view kind, std::string_view client);
    ~Exchange();
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    AuditRecord& record() { return record_; }
    const AuditRecord& record() const { return record_; }

    // The outcome; the last one set before finish() is the one written.
    void refuse(const Refusal& refusal);                  // decision deny
    void fail(unsigned status, std::string_view reason);  // decision error
    void complete(unsigned status, std::string_view decision, std::string_view reason);
    bool has_outcome() const { return has_outcome_; }

    // Writes the record now (once; later calls do nothing).
    void finish();

    // The limiter's permit for this exchange (runtime/admission.hpp): its concurrency slots are
    // held until the exchange object ends (a relay, a database session: for their whole life).
    void hold(std::unique_ptr<Limiter::Permit> permit) { permit_ = std::move(permit); }

  private:
    std::shared_ptr<AuditSink> sink_;
    AuditRecord record_;
    std::chrono::steady_clock::time_point started_;
    // The refusal's error id as a metrics label (runtime/metrics.hpp), "" when not refused.
    std::string_view error_;
    bool has_outcome_ = false;
    bool written_ = false;
    std::unique_ptr<Limiter::Permit> permit_;
};

// Unix milliseconds now, for AuditRecord::time_ms.
std::int64_t unix_ms_now();

}  // namespace cloakroom::runtime
