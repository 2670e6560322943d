// Prometheus metrics (docs/operations.md, "Metrics"): what the gateway counts and how it writes
// the text exposition format for the admin listener's /metrics.
//
// Cheap on the hot path: every thread counts into its own shard (plain relaxed loads and stores of
// counters only that thread writes, and an uncontended lock for the labelled series), and a
// scrape sums the shards. Label values come only from closed sets (kinds, decisions, error ids,
// status codes, event names) or from configuration names; a service name that is not in the
// configuration the scrape is given is written as "other", so neither a token id, a secret, a
// host nor a path can ever become a label value (cardinality and leakage).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/audit.hpp"

namespace cloakroom::runtime {

// Unlabelled events (and events whose one label is part of the name, written as `event`).
enum class Event : std::size_t {
    AgentTlsHandshakeOk,
    AgentTlsHandshakeFailed,
    UpstreamTlsHandshakeOk,
    UpstreamTlsHandshakeFailed,
    PoolReused,
    PoolDialed,
    DbCommandRefused,
    ReloadOk,
    ReloadFailed,
    RevocationApplied,
    SessionsEndedByRevocation,
    kCount
};

// Which limit refused a request (runtime/rate_limit.hpp).
enum class LimitKind : std::size_t { Rate, Concurrency, Budget, kCount };
std::string_view to_string(LimitKind kind);  // "rate", "concurrency", "budget"
// Whose limit: one token id, a service as a whole, or the whole gateway.
enum class LimitScope : std::size_t { Token, Service, Global, kCount };
std::string_view to_string(LimitScope scope);  // "token", "service", "global"

// Upper bounds, in seconds, of the request duration histogram's buckets (+Inf is implied).
inline constexpr std::array<double, 14> kDurationBuckets = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// Appends one metric family in the text format (0.0.4): HELP/TYPE once, then samples. Label
// values are escaped (\\, \", \n) although callers pass only closed-set values.
class ExpositionWriter {
  public:
    explicit ExpositionWriter(std::string& out) : out_(out) {}
    void family(std::string_view name, std::string_view type, std::string_view help);
    // labels: {name, value} pairs.
    void sample(std::string_view name,
                std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                double value);

  private:
    std::string& out_;
};

class Metrics {
  public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // Once per exchange, when its audit record is written (runtime::Exchange::finish): requests
    // and decisions by kind, service, decision, status and error; bytes; duration. `error` is
    // the refusal's error id ("" when not refused).
    void observe(const AuditRecord& record, std::string_view error);
    void add(Event event, std::uint64_t n = 1);
    void limit_hit(std::string_view service, LimitScope scope, LimitKind kind);

    // Everything counted so far, in the text exposition format. `services`: the configuration's
    // service and database names; any other service value is written as "other".
    std::string exposition(const std::set<std::string, std::less<>>& services) const;

    // Totals, for tests and the admin API.
    std::uint64_t total(Event event) const;
    std::uint64_t requests_total() const;

  private:
    struct Shard;
    Shard& shard();

    const std::uint64_t id_;
    mutable std::mutex shards_mutex_;
    std::vector<std::unique_ptr<Shard>> shards_;
};

// The process's metrics, which every layer above counts into.
Metrics& metrics();

// A label value from a closed set: the error id when it is one Cloakroom uses, "other" if not,
// "none" when empty.
std::string_view error_label(std::string_view error);
// "http", "tunnel", ... when it is an audit kind; else "other".
std::string_view kind_label(std::string_view kind);
// "allow", "deny", ... when it is an audit decision; else "other".
std::string_view decision_label(std::string_view decision);

}  // namespace cloakroom::runtime
