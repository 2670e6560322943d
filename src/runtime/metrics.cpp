#include "runtime/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

namespace cloakroom::runtime {
namespace {

// The closed sets. Index 0 of each is "other": anything not listed.
constexpr std::array<std::string_view, 8> kKinds = {"other",       "http", "tunnel",     "database",
                                                    "transparent", "dns",  "revocation", "admin"};
constexpr std::array<std::string_view, 7> kDecisions = {"other",  "allow", "passthrough", "forward",
                                                        "tunnel", "deny",  "error"};
// Every error id Cloakroom answers with (proxy/error_response.hpp lists the HTTP ones).
constexpr std::array<std::string_view, 28> kErrors = {"other",
                                                      "none",
                                                      "address_forbidden",
                                                      "bad_request",
                                                      "credential_unavailable",
                                                      "dns_refused",
                                                      "header_too_large",
                                                      "host_not_configured",
                                                      "https_required",
                                                      "misdirected_request",
                                                      "no_credential",
                                                      "not_implemented",
                                                      "not_redirected",
                                                      "rule_denied",
                                                      "service_not_found",
                                                      "token_forbidden",
                                                      "token_invalid",
                                                      "token_required",
                                                      "token_revoked",
                                                      "token_expired",
                                                      "upstream_bad_response",
                                                      "upstream_timeout",
                                                      "upstream_tls_failed",
                                                      "upstream_unreachable",
                                                      "rate_limited",
                                                      "budget_exhausted",
                                                      "login_failed",
                                                      "fleet_stale"};

// A shard keeps at most this many distinct services; more (never with a sane configuration)
// count as "other".
constexpr std::size_t kMaxServicesPerShard = 1024;
constexpr std::string_view kOtherService = "other";

template <std::size_t N>
std::uint8_t index_of(const std::array<std::string_view, N>& set, std::string_view value) {
    for (std::size_t i = 1; i < N; ++i) {
        if (set[i] == value) return static_cast<std::uint8_t>(i);
    }
    return 0;
}

std::uint8_t error_index(std::string_view error) {
    return error.empty() ? 1 : index_of(kErrors, error);
}

// A counter only its shard's thread writes: a relaxed load and store, no locked instruction; a
// scrape on another thread reads a value at most one increment old.
struct OwnedCounter {
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n) {
        value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

struct SeriesKey {
    std::uint8_t kind = 0;
    std::uint8_t decision = 0;
    std::uint8_t error = 0;
    std::uint16_t status = 0;
    std::string service;
    bool operator==(const SeriesKey&) const = default;
};

struct SeriesKeyHash {
    std::size_t operator()(const SeriesKey& key) const {
        std::size_t h = std::hash<std::string>{}(key.service);
        h ^= (static_cast<std::size_t>(key.kind) << 40) ^
             (static_cast<std::size_t>(key.decision) << 32) ^
             (static_cast<std::size_t>(key.error) << 16) ^ key.status;
        return h;
    }
};

struct Histogram {
    std::array<std::uint64_t, kDurationBuckets.size()> buckets{};  // non-cumulative
    std::uint64_t count = 0;
    double sum = 0;
    void observe(double seconds) {
        const auto at = std::lower_bound(kDurationBuckets.begin(), kDurationBuckets.end(), seconds);
        if (at != kDurationBuckets.end())
            ++buckets[static_cast<std::size_t>(at - kDurationBuckets.begin())];
        ++count;
        sum += seconds;
    }
    void merge(const Histogram& other) {
        for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
        count += other.count;
        sum += other.sum;
    }
};

struct Series {
    std::uint64_t requests = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    Histogram duration;
};

std::string status_label(std::uint16_t status) {
    if (status < 100 || status > 599) return "0";
    return std::to_string(status);
}

std::string format_value(double value) {
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char buffer[64];
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
        std::snprintf(buffer, sizeof buffer, "%.0f", value);
    } else {
        std::snprintf(buffer, sizeof buffer, "%.9g", value);
    }
    return buffer;
}

std::atomic<std::uint64_t> next_metrics_id{1};

}  // namespace

std::string_view to_string(LimitKind kind) {
    switch (kind) {
        case LimitKind::Rate:
            return "rate";
        case LimitKind::Concurrency:
            return "concurrency";
        case LimitKind::Budget:
            return "budget";
        case LimitKind::kCount:
            break;
    }
    return "other";
}

std::string_view to_string(LimitScope scope) {
    switch (scope) {
        case LimitScope::Token:
            return "token";
        case LimitScope::Service:
            return "service";
        case LimitScope::Global:
            return "global";
        case LimitScope::kCount:
            break;
    }
    return "other";
}

std::string_view error_label(std::string_view error) {
    return kErrors[error_index(error)];
}
std::string_view kind_label(std::string_view kind) {
    return kKinds[index_of(kKinds, kind)];
}
std::string_view decision_label(std::string_view decision) {
    return kDecisions[index_of(kDecisions, decision)];
}

// ---- ExpositionWriter ----

void ExpositionWriter::family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void ExpositionWriter::sample(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double value) {
    out_.append(name);
    if (labels.size() != 0) {
        out_.push_back('{');
        bool first = true;
        for (const auto& [label, text] : labels) {
            if (!first) out_.push_back(',');
            first = false;
            out_.append(label).append("=\"");
            for (char c : text) {
                if (c == '\\' || c == '"') {
                    out_.push_back('\\');
                    out_.push_back(c);
                } else if (c == '\n') {
                    out_.append("\\n");
                } else {
                    out_.push_back(c);
                }
            }
            out_.push_back('"');
        }
        out_.push_back('}');
    }
    out_.push_back(' ');
    out_.append(format_value(value));
    out_.push_back('\n');
}

// ---- Metrics ----

struct Metrics::Shard {
    std::array<OwnedCounter, static_cast<std::size_t>(Event::kCount)> events;
    // The labelled series: only the owning thread inserts or adds, a scrape reads; the lock is
    // therefore uncontended except during a scrape.
    std::mutex mutex;
    std::unordered_map<SeriesKey, Series, SeriesKeyHash> series;
    std::map<std::tuple<std::string, std::size_t, std::size_t>, std::uint64_t> limits;
    std::set<std::string, std::less<>> services;
};

Metrics::Metrics() : id_(next_metrics_id.fetch_add(1, std::memory_order_relaxed)) {}
Metrics::~Metrics() = default;

Metrics::Shard& Metrics::shard() {
    // One cached shard per thread for the last Metrics it counted into (one in the gateway).
    struct Cached {
        std::uint64_t owner = 0;
        Shard* shard = nullptr;
    };
    thread_local Cached cached;
    if (cached.owner != id_) {
        auto fresh = std::make_unique<Shard>();
        Shard* raw = fresh.get();
        std::lock_guard lock(shards_mutex_);
        shards_.push_back(std::move(fresh));
        cached = {id_, raw};
    }
    return *cached.shard;
}

void Metrics::observe(const AuditRecord& record, std::string_view error) {
    Shard& mine = shard();
    SeriesKey key;
    key.kind = index_of(kKinds, record.kind);
    key.decision = index_of(kDecisions, record.decision);
    key.error = error_index(error);
    key.status = static_cast<std::uint16_t>(record.status > 999 ? 0 : record.status);
    std::lock_guard lock(mine.mutex);
    if (mine.services.contains(record.service)) {
        key.service = record.service;
    } else if (mine.services.size() < kMaxServicesPerShard) {
        mine.services.insert(record.service);
        key.service = record.service;
    } else {
        key.service = kOtherService;
    }
    Series& series = mine.series[key];
    ++series.requests;
    series.bytes_in += record.bytes_in;
    series.bytes_out += record.bytes_out;
    series.duration.observe(static_cast<double>(record.duration_us) / 1e6);
}

void Metrics::add(Event event, std::uint64_t n) {
    shard().events[static_cast<std::size_t>(event)].add(n);
}

void Metrics::limit_hit(std::string_view service, LimitScope scope, LimitKind kind) {
    Shard& mine = shard();
    std::lock_guard lock(mine.mutex);
    ++mine.limits[{std::string(service), static_cast<std::size_t>(scope),
                   static_cast<std::size_t>(kind)}];
}

std::uint64_t Metrics::total(Event event) const {
    std::uint64_t sum = 0;
    std::lock_guard lock(shards_mutex_);
    for (const auto& one : shards_) sum += one->events[static_cast<std::size_t>(event)].get();
    return sum;
}

std::uint64_t Metrics::requests_total() const {
    std::uint64_t sum = 0;
    std::lock_guard lock(shards_mutex_);
    for (const auto& one : shards_) {
        std::lock_guard shard_lock(one->mutex);
        for (const auto& [key, series] : one->series) sum += series.requests;
    }
    return sum;
}

std::string Metrics::exposition(const std::set<std::string, std::less<>>& services) const {
    // Merged over the shards, service names outside the configuration folded into "other".
    auto service_label = [&](const std::string& service) -> std::string {
        if (service.empty()) return "none";
        return services.contains(service) ? service : std::string(kOtherService);
    };
    using LabelKey = std::tuple<std::uint8_t, std::string, std::uint8_t, std::uint16_t,
                                std::uint8_t>;  // kind, service, decision, status, error
    std::map<LabelKey, Series> series;
    std::map<std::pair<std::uint8_t, std::string>, Histogram> durations;
    std::map<std::tuple<std::string, std::size_t, std::size_t>, std::uint64_t> limits;
    std::array<std::uint64_t, static_cast<std::size_t>(Event::kCount)> events{};
    {
        std::lock_guard lock(shards_mutex_);
        for (const auto& one : shards_) {
            for (std::size_t i = 0; i < events.size(); ++i) events[i] += one->events[i].get();
            std::lock_guard shard_lock(one->mutex);
            for (const auto& [key, value] : one->series) {
                Series& merged = series[{key.kind, service_label(key.service), key.decision,
                                         key.status, key.error}];
                merged.requests += value.requests;
                merged.bytes_in += value.bytes_in;
                merged.bytes_out += value.bytes_out;
                durations[{key.kind, service_label(key.service)}].merge(value.duration);
            }
            for (const auto& [key, count] : one->limits) {
                limits[{service_label(std::get<0>(key)), std::get<1>(key), std::get<2>(key)}] +=
                    count;
            }
        }
    }

    std::string out;
    ExpositionWriter writer(out);
    writer.family("cloakroom_requests_total", "counter",
                  "Exchanges (HTTP requests, tunnels, database sessions) by kind, service, "
                  "decision, status and error id.");
    for (const auto& [key, value] : series) {
        const auto& [kind, service, decision, status, error] = key;
        const std::string status_text = status_label(status);
        writer.sample("cloakroom_requests_total",
                      {{"kind", kKinds[kind]},
                       {"service", service},
                       {"decision", kDecisions[decision]},
                       {"status", status_text},
                       {"error", kErrors[error]}},
                      static_cast<double>(value.requests));
    }
    // Bytes by kind and service only: the status split adds nothing here.
    std::map<std::pair<std::uint8_t, std::string>, std::pair<std::uint64_t, std::uint64_t>> bytes;
    for (const auto& [key, value] : series) {
        auto& sums = bytes[{std::get<0>(key), std::get<1>(key)}];
        sums.first += value.bytes_in;
        sums.second += value.bytes_out;
    }
    writer.family("cloakroom_request_bytes_total", "counter",
                  "Request body bytes from agents, by kind and service.");
    for (const auto& [key, sums] : bytes) {
        writer.sample("cloakroom_request_bytes_total",
                      {{"kind", kKinds[key.first]}, {"service", key.second}},
                      static_cast<double>(sums.first));
    }
    writer.family("cloakroom_response_bytes_total", "counter",
                  "Response body bytes to agents, by kind and service.");
    for (const auto& [key, sums] : bytes) {
        writer.sample("cloakroom_response_bytes_total",
                      {{"kind", kKinds[key.first]}, {"service", key.second}},
                      static_cast<double>(sums.second));
    }
    writer.family("cloakroom_request_duration_seconds", "histogram",
                  "Time from an exchange's start (request head read) to its end (last response "
                  "byte relayed), upstream time included, by kind and service.");
    for (const auto& [key, histogram] : durations) {
        const std::string_view kind = kKinds[key.first];
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kDurationBuckets.size(); ++i) {
            cumulative += histogram.buckets[i];
            const std::string le = format_value(kDurationBuckets[i]);
            writer.sample("cloakroom_request_duration_seconds_bucket",
                          {{"kind", kind}, {"service", key.second}, {"le", le}},
                          static_cast<double>(cumulative));
        }
        writer.sample("cloakroom_request_duration_seconds_bucket",
                      {{"kind", kind}, {"service", key.second}, {"le", "+Inf"}},
                      static_cast<double>(histogram.count));
        writer.sample("cloakroom_request_duration_seconds_sum",
                      {{"kind", kind}, {"service", key.second}}, histogram.sum);
        writer.sample("cloakroom_request_duration_seconds_count",
                      {{"kind", kind}, {"service", key.second}},
                      static_cast<double>(histogram.count));
    }
    writer.family("cloakroom_limits_hit_total", "counter",
                  "Requests refused by a rate limit, concurrency limit or budget, by service, "
                  "scope and limit.");
    for (const auto& [key, count] : limits) {
        writer.sample("cloakroom_limits_hit_total",
                      {{"service", std::get<0>(key)},
                       {"scope", to_string(static_cast<LimitScope>(std::get<1>(key)))},
                       {"limit", to_string(static_cast<LimitKind>(std::get<2>(key)))}},
                      static_cast<double>(count));
    }
    auto event = [&](Event which) {
        return static_cast<double>(events[static_cast<std::size_t>(which)]);
    };
    writer.family("cloakroom_tls_handshakes_total", "counter",
                  "TLS handshakes by side (agent: intercepted connections; upstream) and result.");
    writer.sample("cloakroom_tls_handshakes_total", {{"side", "agent"}, {"result", "ok"}},
                  event(Event::AgentTlsHandshakeOk));
    writer.sample("cloakroom_tls_handshakes_total", {{"side", "agent"}, {"result", "failed"}},
                  event(Event::AgentTlsHandshakeFailed));
    writer.sample("cloakroom_tls_handshakes_total", {{"side", "upstream"}, {"result", "ok"}},
                  event(Event::UpstreamTlsHandshakeOk));
    writer.sample("cloakroom_tls_handshakes_total", {{"side", "upstream"}, {"result", "failed"}},
                  event(Event::UpstreamTlsHandshakeFailed));
    writer.family("cloakroom_upstream_connections_total", "counter",
                  "Upstream TLS connections used for a request: taken from the pool or dialed.");
    writer.sample("cloakroom_upstream_connections_total", {{"source", "pool"}},
                  event(Event::PoolReused));
    writer.sample("cloakroom_upstream_connections_total", {{"source", "dialed"}},
                  event(Event::PoolDialed));
    writer.family("cloakroom_db_commands_refused_total", "counter",
                  "Database commands refused inside a session (re-authentication, protocol "
                  "errors).");
    writer.sample("cloakroom_db_commands_refused_total", {}, event(Event::DbCommandRefused));
    writer.family("cloakroom_reloads_total", "counter", "Configuration reloads by result.");
    writer.sample("cloakroom_reloads_total", {{"result", "ok"}}, event(Event::ReloadOk));
    writer.sample("cloakroom_reloads_total", {{"result", "failed"}}, event(Event::ReloadFailed));
    writer.family("cloakroom_revocations_applied_total", "counter",
                  "Revocation records the running gateway applied.");
    writer.sample("cloakroom_revocations_applied_total", {}, event(Event::RevocationApplied));
    writer.family("cloakroom_revocation_sessions_ended_total", "counter",
                  "Live sessions ended because their token was revoked.");
    writer.sample("cloakroom_revocation_sessions_ended_total", {},
                  event(Event::SessionsEndedByRevocation));
    return out;
}

Metrics& metrics() {
    static Metrics* process = new Metrics();  // never destroyed: threads may count at exit
    return *process;
}

}  // namespace cloakroom::runtime
