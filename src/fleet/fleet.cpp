#include "fleet/fleet.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

#include "fleet/budget_script.hpp"
#include "runtime/exchange.hpp"

namespace cloakroom::fleet {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRoundInterval{100};
constexpr std::chrono::milliseconds kRedisTimeout{500};
constexpr std::chrono::seconds kHeartbeatInterval{1};
// Heartbeats older than this are not listed (the gateway stopped or lost Redis).
constexpr std::int64_t kInstanceGoneMs = 30'000;
constexpr std::size_t kMgetChunk = 500;

// How long a budget count outlives the latest expiry of the tokens that counted in it: room for
// clocks (gateways', Redis's) that disagree. Past it, no token of that id can be admitted.
constexpr std::int64_t kBudgetExpiryMargin = 3600;

// One hash tag for every key: one Redis Cluster slot holds them all.
const std::string kEpochKey = "{cloakroom}:epoch";
const std::string kRevocationsKey = "{cloakroom}:revocations";
const std::string kInstancesKey = "{cloakroom}:instances";

std::string random_epoch() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return std::to_string(Clock::now().time_since_epoch().count());
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char byte : bytes) {
        out += kHex[byte >> 4];
        out += kHex[byte & 15];
    }
    return out;
}

// The line of a record as stored in Redis: the revocation file's format without the newline.
std::string line_of(const runtime::RevocationRecord& record) {
    std::string line = runtime::format_revocation(record);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
}

Error protocol_error(std::string_view what) {
    return make_error("fleet.io", "Redis answered unexpectedly to " + std::string(what));
}

std::optional<std::uint64_t> to_count(const RedisReply& reply) {
    if (reply.type == RedisReply::Type::Integer) {
        if (reply.integer < 0) return std::nullopt;
        return static_cast<std::uint64_t>(reply.integer);
    }
    if (reply.type != RedisReply::Type::String) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, ec] =
        std::from_chars(reply.text.data(), reply.text.data() + reply.text.size(), value);
    if (ec != std::errc() || end != reply.text.data() + reply.text.size()) return std::nullopt;
    return value;
}

}  // namespace

std::string_view to_string(FleetState state) {
    switch (state) {
        case FleetState::Synced:
            return "synced";
        case FleetState::Degraded:
            return "degraded";
        case FleetState::Stale:
            return "stale";
    }
    return "stale";
}

std::string Fleet::budget_key(std::string_view limiter_key) {
    std::string key = "{cloakroom}:budget:";
    for (const char c : limiter_key) key += c == '\x1f' ? ':' : c;
    return key;
}

Fleet::Fleet(config::FleetConfig config, std::unique_ptr<RedisLink> link,
             std::shared_ptr<runtime::Revocations> revocations,
             std::shared_ptr<runtime::Limiter> limiter, FleetHooks hooks)
    : config_(std::move(config)),
      link_(std::move(link)),
      revocations_(std::move(revocations)),
      limiter_(std::move(limiter)),
      hooks_(std::move(hooks)) {
    status_.instance = config_.instance;
    status_.redis = config_.redis;
}

Result<std::unique_ptr<Fleet>> Fleet::start(const config::FleetConfig& config, FleetSecrets secrets,
                                            const std::vector<runtime::RevocationRecord>& known,
                                            std::shared_ptr<runtime::Revocations> revocations,
                                            std::shared_ptr<runtime::Limiter> limiter,
                                            FleetHooks hooks) {
    std::optional<RedisTls> tls;
    if (config.tls) {
        auto made = make_redis_tls(config, secrets.client_cert, secrets.client_key);
        OPENSSL_cleanse(secrets.client_key.data(), secrets.client_key.size());
        if (!made.ok()) return made.error();
        tls = std::move(*made);
    }
    auto link = std::make_unique<RedisLink>(
        config, std::move(tls),
        RedisLogins{std::move(secrets.password), std::move(secrets.sentinel_password)},
        kRedisTimeout);
    std::unique_ptr<Fleet> fleet(new Fleet(config, std::move(link), std::move(revocations),
                                           std::move(limiter), std::move(hooks)));
    for (const auto& record : known) fleet->local_.insert(line_of(record));
    // Stale until the first round succeeds: nothing is known about the fleet's revocations.
    fleet->revocations_->set_stale(true);
    auto first = fleet->round();
    if (!first.ok()) {
        // A refused login or certificate is a configuration mistake: say so at start-up.
        if (first.error().code == "fleet.auth" || first.error().code == "fleet.tls") {
            return first.error();
        }
        fleet->note_failure(first.error());
        spdlog::warn("fleet: {}; starting stale (tokens are refused until Redis answers)",
                     first.error().message);
    } else {
        fleet->note_success();
    }
    fleet->thread_ = std::thread([raw = fleet.get()] { raw->run(); });
    return fleet;
}

Fleet::~Fleet() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (link_->connected()) (void)link_->command({"HDEL", kInstancesKey, config_.instance});
}

void Fleet::offer(const std::vector<runtime::RevocationRecord>& records) {
    {
        std::lock_guard lock(mutex_);
        for (const auto& record : records) local_.insert(line_of(record));
        push_pending_ = true;
        woken_ = true;
    }
    wake_.notify_all();
}

FleetStatus Fleet::status() const {
    std::lock_guard lock(mutex_);
    FleetStatus out = status_;
    if (out.last_sync_ms != 0)
        out.sync_age_ms = std::max<std::int64_t>(0, runtime::unix_ms_now() - out.last_sync_ms);
    return out;
}

void Fleet::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, kRoundInterval, [this] { return stopping_ || woken_; });
        if (stopping_) break;
        woken_ = false;
        lock.unlock();
        auto done = round();
        if (done.ok()) {
            note_success();
        } else {
            link_->reset();  // reconnect (re-resolve the master) at the next round
            note_failure(done.error());
        }
        update_staleness();
        lock.lock();
    }
}

// A round is one pipeline, one round trip, in the common case: the revocation list's epoch and
// length, this gateway's budget counts (EVALSHA), the fleet-wide counts of every budget it knows
// (MGET) and, once a second, the heartbeat. Only what that shows to be needed takes another:
// reading new revocation records, pushing this gateway's, setting a missing epoch, and counts a
// node without the script (NOSCRIPT) must be sent again as EVAL.
Result<void> Fleet::round() {
    std::vector<std::vector<std::string>> commands{{"GET", kEpochKey}, {"LLEN", kRevocationsKey}};
    std::vector<runtime::Limiter::BudgetDelta> deltas;
    std::vector<std::string> keys;
    if (limiter_) {
        deltas = limiter_->take_budget_deltas();
        keys = limiter_->budget_keys(runtime::unix_ms_now() / 1000);
    }
    const std::size_t first_count = commands.size();
    for (const auto& delta : deltas) commands.push_back(budget_command(delta, use_evalsha_));
    const std::size_t first_mget = commands.size();
    for (std::size_t begin = 0; begin < keys.size(); begin += kMgetChunk) {
        const std::size_t end = std::min(keys.size(), begin + kMgetChunk);
        std::vector<std::string> mget{"MGET"};
        for (std::size_t i = begin; i < end; ++i) mget.push_back(budget_key(keys[i]));
        commands.push_back(std::move(mget));
    }
    const std::size_t first_beat = commands.size();
    const bool beat = Clock::now() >= next_heartbeat_;
    const std::int64_t now_ms = runtime::unix_ms_now();
    if (beat) {
        const auto live = hooks_.live ? hooks_.live() : std::pair<std::uint64_t, std::uint64_t>{};
        const nlohmann::json json = {
            {"live_http", live.first}, {"live_database", live.second}, {"seen_ms", now_ms}};
        commands.push_back({"HSET", kInstancesKey, config_.instance, json.dump()});
        commands.push_back({"HGETALL", kInstancesKey});
    }
    auto replies = link_->pipeline(commands);
    if (!replies.ok()) {
        // Counted again at the next round: a budget may count a request twice, never zero times.
        if (!deltas.empty()) limiter_->unpush(deltas);
        return replies.error();
    }
    const std::uint64_t generation = link_->generation();  // of the node that answered
    // The counts first: whatever else failed, Redis has taken them (or refused them).
    auto counted = count_budgets(
        deltas,
        std::span(replies->begin() + static_cast<std::ptrdiff_t>(first_count), deltas.size()));
    if (counted.ok()) {
        counted =
            read_budgets(keys, std::span(replies->begin() + static_cast<std::ptrdiff_t>(first_mget),
                                         first_beat - first_mget));
    }
    auto synced = sync_revocations((*replies)[0], (*replies)[1], generation);
    if (!synced.ok()) return synced;
    if (!counted.ok()) return counted;
    if (beat) {
        if (auto done = read_heartbeats((*replies)[first_beat + 1], now_ms); !done.ok())
            return done;
        next_heartbeat_ = Clock::now() + kHeartbeatInterval;
    }
    return {};
}

std::vector<std::string> Fleet::budget_command(const runtime::Limiter::BudgetDelta& delta,
                                               bool by_sha) const {
    const bool never = delta.expires > runtime::Limiter::kNeverExpires - kBudgetExpiryMargin;
    return {by_sha ? "EVALSHA" : "EVAL",
            by_sha ? budget_script_sha1() : budget_script(),
            "1",
            budget_key(delta.key),
            std::to_string(delta.delta),
            never ? "0" : std::to_string(delta.expires + kBudgetExpiryMargin)};
}

Result<void> Fleet::count_budgets(const std::vector<runtime::Limiter::BudgetDelta>& deltas,
                                  std::span<RedisReply> replies) {
    // A node without the script ran nothing: those counts go again as EVAL, which caches the
    // script there for the next rounds' EVALSHA.
    std::vector<std::size_t> again;
    for (std::size_t i = 0; i < deltas.size(); ++i) {
        if (replies[i].type != RedisReply::Type::Error) continue;
        const auto outcome = classify_evalsha_error(replies[i].text);
        if (outcome == EvalshaOutcome::Ran) continue;
        again.push_back(i);
        if (outcome == EvalshaOutcome::NoPerm && use_evalsha_) {
            use_evalsha_ = false;
            spdlog::warn(
                "fleet: the Redis ACL refuses EVALSHA; sending the budget script as EVAL every "
                "round (add +evalsha to the ACL: docs/deployment.md)");
        }
    }
    if (!again.empty()) {
        std::vector<std::vector<std::string>> commands;
        for (const std::size_t i : again) commands.push_back(budget_command(deltas[i], false));
        auto answered = link_->pipeline(commands);
        for (std::size_t k = 0; k < again.size(); ++k) {
            if (answered.ok()) {
                replies[again[k]] = std::move((*answered)[k]);
            } else {
                RedisReply failed;
                failed.type = RedisReply::Type::Error;
                failed.text = answered.error().message;
                replies[again[k]] = std::move(failed);
            }
        }
    }
    std::vector<runtime::Limiter::BudgetDelta> refused;
    std::string why;
    for (std::size_t i = 0; i < deltas.size(); ++i) {
        if (replies[i].type == RedisReply::Type::Error) {
            // Not counted (e.g. an ACL without the script's commands): counted again at the
            // next round, and the round fails loudly rather than losing counts silently.
            refused.push_back(deltas[i]);
            why = replies[i].text;
        } else if (auto total = to_count(replies[i])) {
            limiter_->set_shared_count(deltas[i].key, *total);
        }
    }
    if (!refused.empty()) {
        limiter_->unpush(refused);
        return make_error("fleet.io", "Redis refused a budget count: " + why);
    }
    return {};
}

Result<void> Fleet::read_budgets(const std::vector<std::string>& keys,
                                 std::span<const RedisReply> replies) {
    for (std::size_t chunk = 0; chunk < replies.size(); ++chunk) {
        const std::size_t begin = chunk * kMgetChunk;
        const std::size_t end = std::min(keys.size(), begin + kMgetChunk);
        const RedisReply& reply = replies[chunk];
        if (reply.type != RedisReply::Type::Array || reply.elements.size() != end - begin) {
            return protocol_error("MGET");
        }
        for (std::size_t i = begin; i < end; ++i) {
            if (auto total = to_count(reply.elements[i - begin])) {
                limiter_->set_shared_count(keys[i], *total);
            }
        }
    }
    return {};
}

Result<void> Fleet::sync_revocations(RedisReply epoch, const RedisReply& length_reply,
                                     std::uint64_t generation) {
    for (const RedisReply* reply : {static_cast<const RedisReply*>(&epoch), &length_reply}) {
        if (reply->type == RedisReply::Type::Error) {
            return make_error("fleet.io", "Redis: " + reply->text);
        }
    }
    if (generation != generation_) {
        // Another connection, maybe another node (a failover, a moved slot): what it holds is
        // read again from the start and what it lacks is pushed again. A write the old node
        // took just before it was demoted is lost with its data; this puts it back.
        generation_ = generation;
        cursor_ = 0;
        known_.clear();
    }
    if (epoch.type == RedisReply::Type::Nil) {
        // A new Redis, or one that lost its data: the first gateway to ask sets the epoch.
        auto set = link_->pipeline({{"SET", kEpochKey, random_epoch(), "NX"}, {"GET", kEpochKey}});
        if (!set.ok()) return set.error();
        epoch = std::move((*set)[1]);
    }
    const auto length = to_count(length_reply);
    if (epoch.type != RedisReply::Type::String || !length) return protocol_error("GET/LLEN");
    if (epoch.text != epoch_ || *length < cursor_) {
        if (!epoch_.empty()) {
            spdlog::warn(
                "fleet: Redis lost the fleet's data; pushing this gateway's "
                "revocations again");
        }
        epoch_ = epoch.text;
        cursor_ = 0;
        std::lock_guard lock(mutex_);
        known_.clear();
        push_pending_ = true;
    }
    std::vector<runtime::RevocationRecord> incoming;
    if (*length > cursor_) {
        auto range = link_->command(
            {"LRANGE", kRevocationsKey, std::to_string(cursor_), std::to_string(*length - 1)});
        if (!range.ok()) return range.error();
        if (range->type != RedisReply::Type::Array) return protocol_error("LRANGE");
        std::lock_guard lock(mutex_);
        for (const auto& element : range->elements) {
            if (element.type != RedisReply::Type::String) continue;
            known_.insert(element.text);
            if (local_.contains(element.text)) continue;
            auto parsed = runtime::RevocationList::parse(element.text + "\n");
            if (!parsed.ok() || parsed->records().size() != 1) {
                spdlog::warn("fleet: skipping a malformed revocation record in Redis");
                continue;
            }
            local_.insert(element.text);
            incoming.push_back(parsed->records().front());
        }
        cursor_ += range->elements.size();
    }
    // What this gateway has that Redis lacks (its own revocations, or all of them after Redis
    // lost its data). Only after a change: comparing thousands of records ten times a second
    // would cost more than the requests' own revocation lookups.
    std::vector<std::vector<std::string>> pushes;
    {
        std::lock_guard lock(mutex_);
        if (push_pending_) {
            push_pending_ = false;
            for (const auto& line : local_) {
                if (!known_.contains(line)) pushes.push_back({"RPUSH", kRevocationsKey, line});
            }
        }
    }
    if (!pushes.empty()) {
        const auto retry_later = [this] {
            std::lock_guard lock(mutex_);
            push_pending_ = true;
        };
        auto pushed = link_->pipeline(pushes);
        if (!pushed.ok()) {
            retry_later();
            return pushed.error();
        }
        for (std::size_t i = 0; i < pushes.size(); ++i) {
            if ((*pushed)[i].type == RedisReply::Type::Error) {
                retry_later();
                return make_error("fleet.io", "Redis: " + (*pushed)[i].text);
            }
            known_.insert(pushes[i][2]);
        }
    }
    if (!incoming.empty()) {
        // In force before this round counts as a success (and so before a stale gateway admits
        // tokens again); the control thread makes them durable, ends sessions and audits.
        revocations_->add(incoming);
        if (hooks_.revocations) hooks_.revocations(std::move(incoming));
    }
    return {};
}

Result<void> Fleet::read_heartbeats(const RedisReply& all, std::int64_t now) {
    if (all.type != RedisReply::Type::Array) return protocol_error("HGETALL");
    std::vector<InstanceInfo> instances;
    for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2) {
        const auto json = nlohmann::json::parse(all.elements[i + 1].text, nullptr, false);
        if (!json.is_object()) continue;
        InstanceInfo info;
        info.name = all.elements[i].text;
        info.live_http = json.value("live_http", std::uint64_t{0});
        info.live_database = json.value("live_database", std::uint64_t{0});
        info.seen_ms = json.value("seen_ms", std::int64_t{0});
        if (now - info.seen_ms > kInstanceGoneMs) continue;
        instances.push_back(std::move(info));
    }
    std::sort(instances.begin(), instances.end(),
              [](const InstanceInfo& a, const InstanceInfo& b) { return a.name < b.name; });
    std::lock_guard lock(mutex_);
    status_.instances = std::move(instances);
    return {};
}

void Fleet::note_success() {
    last_success_ = Clock::now();
    {
        std::lock_guard lock(mutex_);
        const bool was_stale =
            status_.state == FleetState::Stale && status_.syncs + status_.failures > 0;
        status_.state = FleetState::Synced;
        status_.last_sync_ms = runtime::unix_ms_now();
        ++status_.syncs;
        status_.last_error.clear();
        status_.node = link_->node();
        if (was_stale) spdlog::info("fleet: synced with Redis again; tokens are accepted");
    }
    revocations_->set_stale(false);
}

void Fleet::note_failure(const Error& error) {
    std::lock_guard lock(mutex_);
    ++status_.failures;
    // A new reason is logged, but not every 100 ms when two alternate (a TLS alert one round,
    // the reset connection the next).
    const auto now = Clock::now();
    if (status_.last_error != error.message &&
        (status_.last_error.empty() || now - last_warned_ >= std::chrono::seconds(5))) {
        spdlog::warn("fleet: sync with Redis failed: {}", error.message);
        last_warned_ = now;
    }
    status_.last_error = error.message;
}

void Fleet::update_staleness() {
    const bool stale = !last_success_ || Clock::now() - *last_success_ > config_.max_staleness;
    std::lock_guard lock(mutex_);
    if (stale) {
        if (status_.state != FleetState::Stale) {
            spdlog::error(
                "fleet: no sync with Redis for more than {} s: refusing every token "
                "(503 fleet_stale) until Redis answers",
                std::chrono::duration_cast<std::chrono::seconds>(config_.max_staleness).count());
        }
        status_.state = FleetState::Stale;
    } else if (status_.state == FleetState::Synced && !status_.last_error.empty()) {
        status_.state = FleetState::Degraded;
    }
    revocations_->set_stale(stale);
}

}  // namespace cloakroom::fleet
