#include "runtime/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cloakroom::runtime {
namespace {

using Clock = std::chrono::steady_clock;

// Beyond this many entries, idle ones that hold nothing worth keeping (no budget, full bucket,
// nothing in flight) are dropped: an agent minting tokens cannot grow the table without bound.
constexpr std::size_t kPruneAbove = 50'000;

// Whose limit a check is, for the refusal's words (built only when refusing).
enum class Owner { Gateway, Scope, Caveat };

struct Check {
    std::string_view key;  // a literal or one of the calling thread's Scratch::keys
    LimitScope scope;
    const config::Rate* rate = nullptr;
    std::optional<std::uint64_t> concurrency;
    std::optional<std::uint64_t> budget;
    Owner owner = Owner::Gateway;
};

// admit() runs on every request once any limit is configured. Its keys and checks are built
// in per-thread buffers that keep their capacity, so that a request allocates nothing here but
// its permit (docs/operations.md, "Cost").
struct Scratch {
    std::vector<std::string> keys;
    std::vector<Check> checks;
    std::vector<config::Rate> caveat_rates;  // pointed at by `checks`
};

Scratch& scratch() {
    thread_local Scratch buffers;
    return buffers;
}

// "service \"stripe\"", "the gateway", or "" for a Limits caveat (scope_words words it).
std::string owner_text(Owner owner, std::string_view scope_name) {
    switch (owner) {
        case Owner::Gateway:
            return "the gateway";
        case Owner::Scope:
            return "service \"" + std::string(scope_name) + "\"";
        case Owner::Caveat:
            break;
    }
    return "";
}

std::string scope_words(LimitScope scope, const std::string& what) {
    if (what.empty()) return "of the token (its Limits caveat)";
    return scope == LimitScope::Token ? "per token on " + what : "for " + what;
}

std::string rate_text(const token::UsageLimits& limits) {
    const std::uint64_t period = limits.rate_period_seconds;
    const std::string unit = period == 1      ? "s"
                             : period == 60   ? "min"
                             : period == 3600 ? "h"
                                              : std::to_string(period) + "s";
    return std::to_string(limits.rate_count) + "/" + unit;
}

// The limiter key of a Limits caveat: the token id and the caveat's numbers, so that the tokens
// of one family that carry the same caveat share its counters (attenuating again gives no fresh
// allowance) while a tighter caveat added by an attenuation counts on its own.
void caveat_key(std::string& key, std::string_view token_id, const token::UsageLimits& limits) {
    key.append("c\x1f").append(token_id).append("\x1f");
    key.append(std::to_string(limits.rate_count)).append("/");
    key.append(std::to_string(limits.rate_period_seconds)).append("/");
    key.append(std::to_string(limits.concurrency)).append("/");
    key.append(std::to_string(limits.budget));
}

}  // namespace

// ---- TokenBucket ----

TokenBucket::TokenBucket(const config::Rate& rate, Clock::time_point now)
    : count_(rate.count),
      period_(rate.period),
      tokens_(static_cast<double>(rate.count)),
      last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
    if (now <= last_) return;  // a clock that goes back refills nothing
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    const double per_second = static_cast<double>(count_) / static_cast<double>(period_.count());
    tokens_ = std::min(static_cast<double>(count_), tokens_ + elapsed * per_second);
    last_ = now;
}

std::optional<std::chrono::nanoseconds> TokenBucket::wait(Clock::time_point now) {
    refill(now);
    if (tokens_ >= 1.0) return std::nullopt;
    const double per_second = static_cast<double>(count_) / static_cast<double>(period_.count());
    const double seconds = (1.0 - tokens_) / per_second;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::ceil(seconds * 1e9)));
}

void TokenBucket::reconfigure(const config::Rate& rate) {
    count_ = rate.count;
    period_ = rate.period;
    tokens_ = std::min(tokens_, static_cast<double>(count_));
}

bool TokenBucket::full(Clock::time_point now) {
    refill(now);
    return tokens_ >= static_cast<double>(count_);
}

// ---- Limiter ----

Limiter::Permit::~Permit() {
    if (auto limiter = limiter_.lock()) limiter->release(keys_);
}

std::shared_ptr<Limiter> Limiter::create(LimitClock clock) {
    if (!clock) clock = [] { return Clock::now(); };
    return std::shared_ptr<Limiter>(new Limiter(std::move(clock)));
}

std::variant<std::unique_ptr<Limiter::Permit>, LimitRefusal> Limiter::admit(
    std::string_view scope_name, const config::Limits* scope_limits, const config::Limits& global,
    std::string_view token_id, std::span<const token::UsageLimits> caveat_limits,
    std::optional<std::int64_t> token_expires) {
    Scratch& buffers = scratch();
    std::vector<Check>& checks = buffers.checks;
    checks.clear();
    // Room for every key first: the checks point into these strings, which must not move.
    if (buffers.keys.size() < 3 + caveat_limits.size())
        buffers.keys.resize(3 + caveat_limits.size());
    std::size_t keys_used = 0;
    const auto next_key = [&]() -> std::string& {
        std::string& key = buffers.keys[keys_used++];
        key.clear();
        return key;
    };
    if (global.rate || global.concurrency) {
        checks.push_back({"g", LimitScope::Global, global.rate ? &*global.rate : nullptr,
                          global.concurrency, std::nullopt, Owner::Gateway});
    }
    if (!token_id.empty() &&
        (global.token_rate || global.token_concurrency || global.token_budget)) {
        std::string& key = next_key();
        key.append("G\x1f").append(token_id);
        checks.push_back({key, LimitScope::Token, global.token_rate ? &*global.token_rate : nullptr,
                          global.token_concurrency, global.token_budget, Owner::Gateway});
    }
    if (scope_limits != nullptr) {
        if (scope_limits->rate || scope_limits->concurrency) {
            std::string& key = next_key();
            key.append("s\x1f").append(scope_name);
            checks.push_back({key, LimitScope::Service,
                              scope_limits->rate ? &*scope_limits->rate : nullptr,
                              scope_limits->concurrency, std::nullopt, Owner::Scope});
        }
        if (!token_id.empty() && (scope_limits->token_rate || scope_limits->token_concurrency ||
                                  scope_limits->token_budget)) {
            std::string& key = next_key();
            key.append("t\x1f").append(scope_name).append("\x1f").append(token_id);
            checks.push_back({key, LimitScope::Token,
                              scope_limits->token_rate ? &*scope_limits->token_rate : nullptr,
                              scope_limits->token_concurrency, scope_limits->token_budget,
                              Owner::Scope});
        }
    }
    std::vector<config::Rate>& caveat_rates = buffers.caveat_rates;
    caveat_rates.clear();
    if (!token_id.empty() && !caveat_limits.empty()) {
        caveat_rates.reserve(caveat_limits.size());
        for (const token::UsageLimits& limits : caveat_limits) {
            const config::Rate* rate = nullptr;
            if (limits.rate_count != 0 && limits.rate_period_seconds != 0) {
                caveat_rates.push_back(config::Rate{
                    limits.rate_count,
                    std::chrono::seconds(static_cast<std::int64_t>(
                        std::min<std::uint64_t>(limits.rate_period_seconds, 1u << 30))),
                    rate_text(limits)});
                rate = &caveat_rates.back();
            }
            std::string& key = next_key();
            caveat_key(key, token_id, limits);
            checks.push_back(
                {key, LimitScope::Token, rate,
                 limits.concurrency != 0 ? std::optional(limits.concurrency) : std::nullopt,
                 limits.budget != 0 ? std::optional(limits.budget) : std::nullopt, Owner::Caveat});
        }
    }
    if (checks.empty()) return std::unique_ptr<Permit>();

    const Clock::time_point now = clock_();
    thread_local std::vector<Entry*> found;
    found.clear();
    std::lock_guard lock(mutex_);
    if (entries_.size() > kPruneAbove) prune(now);
    for (const Check& check : checks) {
        auto at = entries_.find(check.key);
        if (at == entries_.end()) at = entries_.emplace(std::string(check.key), Entry{}).first;
        Entry& entry = at->second;
        found.push_back(&entry);
        if (check.budget) {
            entry.budgeted = true;
            if (entry.budget_used() >= *check.budget) {
                return LimitRefusal{
                    check.scope, LimitKind::Budget, 0,
                    "the request budget of " + std::to_string(*check.budget) + " " +
                        scope_words(check.scope, owner_text(check.owner, scope_name)) +
                        " is spent; ask for a new token"};
            }
        }
        if (check.rate != nullptr) {
            if (!entry.bucket) {
                entry.bucket.emplace(*check.rate, now);
            } else if (!entry.bucket->same_rate(*check.rate)) {
                entry.bucket->reconfigure(*check.rate);
            }
            if (auto wait = entry.bucket->wait(now)) {
                const auto seconds = static_cast<std::uint64_t>(
                    // Less a microsecond: floating-point dust must not add a whole second.
                    std::ceil(std::chrono::duration<double>(*wait).count() - 1e-6));
                const std::uint64_t retry = std::max<std::uint64_t>(1, seconds);
                return LimitRefusal{
                    check.scope, LimitKind::Rate, retry,
                    "rate limit of " + check.rate->text + " " +
                        scope_words(check.scope, owner_text(check.owner, scope_name)) +
                        " reached; retry in " + std::to_string(retry) + " s"};
            }
        } else {
            entry.bucket.reset();  // a reload removed the rate
        }
        if (check.concurrency && entry.concurrent >= *check.concurrency) {
            return LimitRefusal{check.scope, LimitKind::Concurrency, 1,
                                "at most " + std::to_string(*check.concurrency) +
                                    " concurrent requests " +
                                    scope_words(check.scope, owner_text(check.owner, scope_name))};
        }
    }
    // Every scope admits it: only now is anything taken.
    std::size_t slots = 0;
    for (const Check& check : checks) slots += check.concurrency ? 1 : 0;
    std::vector<std::string> held;
    held.reserve(slots);
    for (std::size_t i = 0; i < checks.size(); ++i) {
        Entry& entry = *found[i];
        if (entry.bucket) entry.bucket->take();
        if (checks[i].budget) {
            ++entry.used;
            entry.expires = std::max(entry.expires, token_expires.value_or(kNeverExpires));
        }
        if (checks[i].concurrency) {
            ++entry.concurrent;
            // The permit names the entry by its address, not its key: release() then needs no
            // lookup. An entry is erased only by prune(), never while a slot of it is held, so
            // the address stays valid for as long as the permit (8 bytes: no allocation).
            held.emplace_back(reinterpret_cast<const char*>(&found[i]), sizeof(Entry*));
        }
    }
    return std::make_unique<Permit>(weak_from_this(), std::move(held));
}

void Limiter::release(const std::vector<std::string>& keys) {
    std::lock_guard lock(mutex_);
    for (const auto& held : keys) {
        // The entry's address, as admit() put it (see there).
        Entry* entry = nullptr;
        if (held.size() != sizeof entry) continue;
        std::copy_n(held.data(), sizeof entry, reinterpret_cast<char*>(&entry));
        if (entry->concurrent > 0) --entry->concurrent;
    }
}

void Limiter::prune(Clock::time_point now) {
    for (auto at = entries_.begin(); at != entries_.end();) {
        Entry& entry = at->second;
        const bool idle =
            entry.concurrent == 0 && !entry.budgeted && (!entry.bucket || entry.bucket->full(now));
        at = idle ? entries_.erase(at) : std::next(at);
    }
}

std::vector<Limiter::BudgetDelta> Limiter::take_budget_deltas() {
    std::vector<BudgetDelta> out;
    std::lock_guard lock(mutex_);
    for (auto& [key, entry] : entries_) {
        if (!entry.budgeted || entry.used == entry.pushed) continue;
        const std::uint64_t delta = entry.used - entry.pushed;
        out.push_back({key, delta, entry.expires == 0 ? kNeverExpires : entry.expires});
        entry.pushed = entry.used;
        entry.shared += delta;
    }
    return out;
}

void Limiter::unpush(const std::vector<BudgetDelta>& deltas) {
    std::lock_guard lock(mutex_);
    for (const BudgetDelta& given_back : deltas) {
        auto at = entries_.find(given_back.key);
        if (at == entries_.end()) continue;
        Entry& entry = at->second;
        entry.pushed -= std::min(entry.pushed, given_back.delta);
        entry.shared -= std::min(entry.shared, given_back.delta);
    }
}

std::vector<std::string> Limiter::budget_keys(std::int64_t now_unix) const {
    std::vector<std::string> keys;
    std::lock_guard lock(mutex_);
    for (const auto& [key, entry] : entries_) {
        // expires 0: no request admitted here yet (an entry only read so far).
        if (entry.budgeted && (entry.expires == 0 || entry.expires >= now_unix))
            keys.push_back(key);
    }
    return keys;
}

void Limiter::set_shared_count(std::string_view key, std::uint64_t total) {
    std::lock_guard lock(mutex_);
    auto at = entries_.find(key);
    if (at == entries_.end()) at = entries_.emplace(std::string(key), Entry{}).first;
    at->second.budgeted = true;
    at->second.shared = std::max(at->second.shared, total);
}

std::size_t Limiter::entries() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace cloakroom::runtime
