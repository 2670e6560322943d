// Fleet mode (docs/deployment.md, "Fleet mode"): several gateways share their revocations,
// budget counts and live-session counts through Redis (one server, a Redis Cluster or a
// Sentinel-managed master, optionally over TLS: fleet/redis_link.hpp).
//
// All Redis I/O happens on one thread of its own, over blocking connections (connect, read
// and write timeouts of 500 ms): workers never wait for Redis, and the control thread (admin
// API, reloads) never stalls behind a slow Redis. Every 100 ms the thread runs one sync round:
//   * revocations: records this gateway has that Redis lacks are appended to the list
//     `{cloakroom}:revocations`; records other gateways appended since the last round are
//     handed to the control thread (FleetHooks::revocations), which stores them in the local
//     revocation file and applies them (sessions ended, audited). The local list stays the only
//     thing a request consults: no Redis round trip per request.
//   * budgets: requests admitted here since the last round are added to `{cloakroom}:budget:*`
//     (a script: INCRBY, and the key expires an hour after the latest expiry of the tokens
//     counted in it), and the fleet-wide count of every budget this gateway knows is read back.
//   * every second, a heartbeat with this gateway's live-session counts, and the fleet's list.
// The revocation list is cleared in Redis only by hand; `{cloakroom}:epoch` (a random value set
// when absent) tells a Redis that lost its data, after which every gateway pushes its records
// again. Every key carries the hash tag {cloakroom}, so that in a Redis Cluster one slot holds
// them all (MGET and pipelines never cross slots).
//
// When rounds fail (Redis down, timeouts), the last successful round ages. Beyond
// `max_staleness` the gateway is stale: Revocations::set_stale(true), so every genuine token
// is refused (HTTP 503 fleet_stale, database logins an "unavailable" error) until a round
// succeeds again. Budgets then count locally only (what this gateway admits, on top of the
// fleet-wide count it last saw); rates and concurrency are per gateway anyway.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/model.hpp"
#include "fleet/redis_client.hpp"
#include "fleet/redis_link.hpp"
#include "runtime/rate_limit.hpp"
#include "runtime/revocation_store.hpp"
#include "util/result.hpp"

namespace cloakroom::fleet {

enum class FleetState {
    Synced,    // the last round succeeded
    Degraded,  // rounds fail, but the last success is within max_staleness
    Stale,     // no success within max_staleness (or none yet): tokens refused
};
std::string_view to_string(FleetState state);  // "synced", "degraded", "stale"

struct InstanceInfo {
    std::string name;
    std::uint64_t live_http = 0;
    std::uint64_t live_database = 0;
    std::int64_t seen_ms = 0;  // Unix ms of its last heartbeat
};

struct FleetStatus {
    FleetState state = FleetState::Stale;
    std::string instance;
    std::string redis;                    // the configured Redis (no password in it)
    std::string node;                     // the node talked to ("host:port"), "" if none
    std::int64_t last_sync_ms = 0;        // Unix ms of the last successful round; 0: never
    std::int64_t sync_age_ms = -1;        // its age; -1: never
    std::uint64_t syncs = 0;              // successful rounds
    std::uint64_t failures = 0;           // failed rounds
    std::string last_error;               // why the last round failed ("" after a success)
    std::vector<InstanceInfo> instances;  // heartbeats seen within the last 30 s
};

// The secrets [fleet] refers to, resolved (the Fleet wipes its copies when it ends).
struct FleetSecrets {
    std::string password;           // of `user`
    std::string sentinel_password;  // of `sentinel_user`
    std::string client_cert;        // base64 of the DER certificate (mTLS)
    std::string client_key;         // base64 of the DER private key (mTLS)
};

struct FleetHooks {
    // Fleet thread: revocation records other gateways added. Hand them to the control thread.
    std::function<void(std::vector<runtime::RevocationRecord>)> revocations;
    // Fleet thread: this gateway's live sessions (HTTP connections, database sessions).
    std::function<std::pair<std::uint64_t, std::uint64_t>()> live;
};

class Fleet {
  public:
    // Connects and runs a first round before returning, so a gateway that starts with Redis up
    // is never stale. A refused login (wrong password, unknown ACL user) is an error (code
    // "fleet.auth"), and so is a rejected certificate or unusable TLS settings ("fleet.tls"):
    // configuration mistakes, not outages. An unreachable Redis is not: the gateway starts
    // stale and keeps trying (a certificate rejected later shows in status().last_error).
    // `known` are the records of the local list at start (see offer()).
    static Result<std::unique_ptr<Fleet>> start(const config::FleetConfig& config,
                                                FleetSecrets secrets,
                                                const std::vector<runtime::RevocationRecord>& known,
                                                std::shared_ptr<runtime::Revocations> revocations,
                                                std::shared_ptr<runtime::Limiter> limiter,
                                                FleetHooks hooks);
    ~Fleet();
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    // Control thread: every record of the local list, after it changed. Those Redis lacks are
    // pushed at the next round (at once: the round is woken up).
    void offer(const std::vector<runtime::RevocationRecord>& records);

    FleetStatus status() const;

    // The Redis key of a limiter entry's budget count.
    static std::string budget_key(std::string_view limiter_key);

  private:
    Fleet(config::FleetConfig config, std::unique_ptr<RedisLink> link,
          std::shared_ptr<runtime::Revocations> revocations,
          std::shared_ptr<runtime::Limiter> limiter, FleetHooks hooks);

    void run();
    Result<void> round();
    std::vector<std::string> budget_command(const runtime::Limiter::BudgetDelta& delta,
                                            bool by_sha) const;
    Result<void> count_budgets(const std::vector<runtime::Limiter::BudgetDelta>& deltas,
                               std::span<RedisReply> replies);
    Result<void> read_budgets(const std::vector<std::string>& keys,
                              std::span<const RedisReply> replies);
    Result<void> sync_revocations(RedisReply epoch, const RedisReply& length,
                                  std::uint64_t generation);
    Result<void> read_heartbeats(const RedisReply& all, std::int64_t now);
    void note_success();
    void note_failure(const Error& error);
    void update_staleness();

    const config::FleetConfig config_;
    const std::unique_ptr<RedisLink> link_;  // used on the fleet thread only
    const std::shared_ptr<runtime::Revocations> revocations_;
    const std::shared_ptr<runtime::Limiter> limiter_;
    const FleetHooks hooks_;

    // Fleet thread only.
    std::string epoch_;             // {cloakroom}:epoch as last read
    std::size_t cursor_ = 0;        // list entries already read
    std::uint64_t generation_ = 0;  // link_->generation() cursor_ and known_ belong to
    std::set<std::string> known_;   // lines known to be in Redis
    bool use_evalsha_ = true;       // false once the ACL refused EVALSHA (fleet/budget_script.hpp)
    std::chrono::steady_clock::time_point next_heartbeat_{};
    std::optional<std::chrono::steady_clock::time_point> last_success_;
    std::chrono::steady_clock::time_point last_warned_{};  // note_failure's last log line

    mutable std::mutex mutex_;  // guards what follows
    std::condition_variable wake_;
    bool stopping_ = false;
    bool woken_ = false;
    std::set<std::string> local_;  // lines of the local list (offer())
    // local_ may hold lines Redis lacks (set by offer() and when Redis lost its data): only
    // then does a round compare the whole list with what Redis holds.
    bool push_pending_ = true;
    FleetStatus status_;

    std::thread thread_;
};

}  // namespace cloakroom::fleet
