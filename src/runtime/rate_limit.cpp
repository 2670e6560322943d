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

struct Check {
    std::string key;
    LimitScope scope;
    const config::Rate* rate = nullptr;
    std::optional<std::uint64_t> concurrency;
    std::optional<std::uint64_t> budget;
    std::string what;  // "service \"stripe\"", "the gateway"
};

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
std::string caveat_key(std::string_view token_id, const token::UsageLimits& limits) {
    return "c\x1f" + std::string(token_id) + "\x1f" + std::to_string(limits.rate_count) + "/" +
           std::to_string(limits.rate_period_seconds) + "/" + std::to_string(limits.concurrency) +
           "/" + std::to_string(limits.budget);
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
    std::string_view token_id, std::span<const token::UsageLimits> caveat_limits) {
    std::vector<Check> checks;
    // The caveats' rates, alive while `checks` points at them.
    std::vector<config::Rate> caveat_rates;
    const std::string scope_text = "service \"" + std::string(scope_name) + "\"";
    if (global.rate || global.concurrency) {
        checks.push_back({"g", LimitScope::Global, global.rate ? &*global.rate : nullptr,
                          global.concurrency, std::nullopt, "the gateway"});
    }
    if (!token_id.empty() &&
        (global.token_rate || global.token_concurrency || global.token_budget)) {
        checks.push_back({"G\x1f" + std::string(token_id), LimitScope::Token,
                          global.token_rate ? &*global.token_rate : nullptr,
                          global.token_concurrency, global.token_budget, "the gateway"});
    }
    if (scope_limits != nullptr) {
        if (scope_limits->rate || scope_limits->concurrency) {
            checks.push_back({"s\x1f" + std::string(scope_name), LimitScope::Service,
                              scope_limits->rate ? &*scope_limits->rate : nullptr,
                              scope_limits->concurrency, std::nullopt, scope_text});
        }
        if (!token_id.empty() && (scope_limits->token_rate || scope_limits->token_concurrency ||
                                  scope_limits->token_budget)) {
            checks.push_back(
                {"t\x1f" + std::string(scope_name) + "\x1f" + std::string(token_id),
                 LimitScope::Token, scope_limits->token_rate ? &*scope_limits->token_rate : nullptr,
                 scope_limits->token_concurrency, scope_limits->token_budget, scope_text});
        }
    }
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
            checks.push_back(
                {caveat_key(token_id, limits), LimitScope::Token, rate,
                 limits.concurrency != 0 ? std::optional(limits.concurrency) : std::nullopt,
                 limits.budget != 0 ? std::optional(limits.budget) : std::nullopt, ""});
        }
    }
    if (checks.empty()) return std::unique_ptr<Permit>();

    const Clock::time_point now = clock_();
    std::lock_guard lock(mutex_);
    if (entries_.size() > kPruneAbove) prune(now);
    std::vector<Entry*> found;
    found.reserve(checks.size());
    for (const Check& check : checks) {
        auto at = entries_.find(check.key);
        if (at == entries_.end()) at = entries_.emplace(check.key, Entry{}).first;
        Entry& entry = at->second;
        found.push_back(&entry);
        if (check.budget) {
            entry.budgeted = true;
            if (entry.budget_used() >= *check.budget) {
                return LimitRefusal{check.scope, LimitKind::Budget, 0,
                                    "the request budget of " + std::to_string(*check.budget) + " " +
                                        scope_words(check.scope, check.what) +
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
                return LimitRefusal{check.scope, LimitKind::Rate, retry,
                                    "rate limit of " + check.rate->text + " " +
                                        scope_words(check.scope, check.what) +
                                        " reached; retry in " + std::to_string(retry) + " s"};
            }
        } else {
            entry.bucket.reset();  // a reload removed the rate
        }
        if (check.concurrency && entry.concurrent >= *check.concurrency) {
            return LimitRefusal{check.scope, LimitKind::Concurrency, 1,
                                "at most " + std::to_string(*check.concurrency) +
                                    " concurrent requests " + scope_words(check.scope, check.what)};
        }
    }
    // Every scope admits it: only now is anything taken.
    std::vector<std::string> held;
    for (std::size_t i = 0; i < checks.size(); ++i) {
        Entry& entry = *found[i];
        if (entry.bucket) entry.bucket->take();
        if (checks[i].budget) ++entry.used;
        if (checks[i].concurrency) {
            ++entry.concurrent;
            held.push_back(checks[i].key);
        }
    }
    return std::make_unique<Permit>(weak_from_this(), std::move(held));
}

void Limiter::release(const std::vector<std::string>& keys) {
    std::lock_guard lock(mutex_);
    for (const auto& key : keys) {
        auto at = entries_.find(key);
        if (at != entries_.end() && at->second.concurrent > 0) --at->second.concurrent;
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
        out.push_back({key, delta});
        entry.pushed = entry.used;
        entry.shared += delta;
    }
    return out;
}

void Limiter::unpush(const std::vector<BudgetDelta>& deltas) {
    std::lock_guard lock(mutex_);
    for (const auto& [key, delta] : deltas) {
        auto at = entries_.find(key);
        if (at == entries_.end()) continue;
        Entry& entry = at->second;
        entry.pushed -= std::min(entry.pushed, delta);
        entry.shared -= std::min(entry.shared, delta);
    }
}

std::vector<std::string> Limiter::budget_keys() const {
    std::vector<std::string> keys;
    std::lock_guard lock(mutex_);
    for (const auto& [key, entry] : entries_) {
        if (entry.budgeted) keys.push_back(key);
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
