// Audit trail: one JSON line per request (issue 3). A record has no field that could hold a
// token or a secret (docs/architecture.md, invariant 1): the token appears only as its id, the path
// is the normalized path without the query (query parameters may carry credentials).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::runtime {

// Which front end wrote a record: one schema for every kind, so counting (metrics, budgets,
// revocation) reads one shape. Kept short: it is written on every line.
inline constexpr std::string_view kAuditHttp = "http";      // one HTTP request (any front end)
inline constexpr std::string_view kAuditTunnel = "tunnel";  // a CONNECT: refused or blind tunnel
inline constexpr std::string_view kAuditDatabase = "database";  // one database session
// A revocation the running gateway applied (`cloakroom revoke`): which token (or "" for a
// `before` record), why, and how many live sessions it ended.
inline constexpr std::string_view kAuditRevocation = "revocation";

struct AuditRecord {
    std::int64_t time_ms = 0;  // Unix milliseconds when the request arrived
    std::string token_id;      // hex id of the token, "" when none decoded
    std::string service;       // service name, "" for [allow] hosts and unknown hosts
    std::string host;          // routed host (connection target), with ":port" if not default
    std::string method;
    std::string path;      // normalized, no query
    std::string decision;  // allow | deny | passthrough | tunnel | error
    std::string reason;
    unsigned status = 0;
    std::uint64_t bytes_in = 0;   // request body bytes from the agent
    std::uint64_t bytes_out = 0;  // response body bytes to the agent
    std::uint64_t duration_us = 0;
    std::string client;  // agent's address "ip:port"
    // Last, so aggregate initialization of the fields above stays as it was; written second.
    std::string_view kind = kAuditHttp;
    // Database sessions only (kind "database"), written after "client": the protocol, the login
    // the client asked for and the database name (PostgreSQL/MySQL; "" for Redis). "service"
    // holds the [[database]] name, also written as "database".
    std::string protocol = {};
    std::string login = {};
    std::string db_name = {};
};

// {"time":"2026-01-01T00:00:00.000Z","kind":...,"token_id":...,"service":...,"host":...,"method":...,
//  "path":...,"decision":...,"reason":...,"status":...,"bytes_in":...,"bytes_out":...,
//  "duration_us":...,"client":...}\n  -- keys in this order, invalid UTF-8 replaced.
std::string to_json_line(const AuditRecord& record);

// "2026-01-01T00:00:00.123Z" (UTC, milliseconds).
std::string rfc3339_ms(std::int64_t unix_ms);

class AuditSink {
  public:
    // "-" = standard output (not closed by the sink); otherwise a file opened
    // O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC with mode 0600. Error code "audit.open".
    static Result<std::unique_ptr<AuditSink>> open(std::string_view target);

    // Thread-safe. One write(2) per record (retried only for a partial write or EINTR); concurrent
    // records never interleave (a lock, except for an O_APPEND regular file, where the kernel
    // already appends each write whole). A failed write is counted, not thrown: an
    // audit problem must not take a request down with it.
    void write(const AuditRecord& record);
    // A complete JSON line ending in "\n" (other record kinds, e.g. database sessions).
    void write_line(std::string_view line);
    std::uint64_t write_errors() const;

    AuditSink(const AuditSink&) = delete;
    AuditSink& operator=(const AuditSink&) = delete;

  private:
    AuditSink(int fd, bool owned);
    UniqueFd owned_;
    int fd_ = -1;
    bool atomic_append_ = false;
    std::mutex mutex_;
    std::atomic<std::uint64_t> write_errors_{0};
};

}  // namespace cloakroom::runtime
