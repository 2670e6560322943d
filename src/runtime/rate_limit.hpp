// Rate limits, concurrency limits and budgets (docs/operations.md, "Rate limits and budgets").
//
// Three scopes, each with its own limits from the configuration: the gateway as a whole
// ([limits]), a service or database as a whole (its `rate`, `concurrency`), and each token id
// within a scope (`token_rate`, `token_concurrency`, `token_budget`); and a token's own Limits
// caveats (token::UsageLimits), each a limit of its token id across every scope. The token id is
// the root nonce (runtime::AccessDecision::token_id), so attenuating a token again gives no fresh
// allowance. A request is admitted only when every scope that applies admits it, and only then
// is anything taken (a refusal by one scope costs the others nothing).
//
// Pure logic with an injected clock; thread-safe (one lock, taken only when a limit applies).
// Counts live in memory: a restart starts every bucket full and every budget at zero.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/model.hpp"
#include "runtime/metrics.hpp"
#include "token/caveat.hpp"

namespace cloakroom::runtime {

using LimitClock = std::function<std::chrono::steady_clock::time_point()>;

// A token bucket: `count` tokens, refilled continuously at count/period; one request takes one.
class TokenBucket {
  public:
    TokenBucket(const config::Rate& rate, std::chrono::steady_clock::time_point now);
    // Whether one token is there at `now` (after refilling); if not, how long until one is.
    std::optional<std::chrono::nanoseconds> wait(std::chrono::steady_clock::time_point now);
    void take() { tokens_ -= 1.0; }
    // A reload changed the rate: keep what is left, within the new capacity.
    void reconfigure(const config::Rate& rate);
    bool full(std::chrono::steady_clock::time_point now);
    bool same_rate(const config::Rate& rate) const {
        return rate.count == count_ && rate.period == period_;
    }

  private:
    void refill(std::chrono::steady_clock::time_point now);
    std::uint64_t count_;
    std::chrono::seconds period_;
    double tokens_;
    std::chrono::steady_clock::time_point last_;
};

struct LimitRefusal {
    LimitScope scope = LimitScope::Token;
    LimitKind kind = LimitKind::Rate;
    // Seconds until a retry may succeed (rate: when the bucket has a token again, at least 1;
    // concurrency: 1); 0 for a spent budget, which no waiting renews.
    std::uint64_t retry_after = 0;
    std::string reason;  // names the limit and the scope, never the token id
};

class Limiter : public std::enable_shared_from_this<Limiter> {
  public:
    // Held for as long as the request (or database session) runs: releases its concurrency
    // slots when destroyed.
    class Permit {
      public:
        Permit(std::weak_ptr<Limiter> limiter, std::vector<std::string> keys)
            : limiter_(std::move(limiter)), keys_(std::move(keys)) {}
        ~Permit();
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;

      private:
        std::weak_ptr<Limiter> limiter_;
        std::vector<std::string> keys_;  // the entries whose slots it holds (see admit())
    };

    static std::shared_ptr<Limiter> create(LimitClock clock = {});

    // One request on `scope_name` (a service or database name) by `token_id` ("" when the
    // request carries no token: only the scope and global limits apply). `scope_limits` may be
    // null (the request belongs to no service). `caveat_limits`: the token's Limits caveats
    // (token::usage_limits), ignored without a token id. `token_expires`: when the token stops
    // being valid (token::expiry, Unix seconds; nullopt: never), which bounds how long its
    // budget counts are worth keeping (BudgetDelta::expires). Returns a permit (null when no
    // limit applies: nothing to release) or the refusal.
    std::variant<std::unique_ptr<Permit>, LimitRefusal> admit(
        std::string_view scope_name, const config::Limits* scope_limits,
        const config::Limits& global, std::string_view token_id,
        std::span<const token::UsageLimits> caveat_limits = {},
        std::optional<std::int64_t> token_expires = std::nullopt);

    // Entries kept (tests: idle entries without a budget are dropped).
    std::size_t entries() const;

    // Fleet mode (fleet/fleet.hpp): budgets counted across gateways. Each budget entry knows
    // the fleet-wide count as of the last sync (`shared`, this gateway's pushed requests
    // included) and the requests it admitted since (`used - pushed`); a budget refuses once
    // shared + unpushed reaches it. Without a fleet, shared and pushed stay 0.
    static constexpr std::int64_t kNeverExpires = INT64_MAX;
    struct BudgetDelta {
        std::string key;  // the entry's key (scope and token id)
        std::uint64_t delta = 0;
        // The latest expiry (Unix seconds) of the tokens this entry admitted, kNeverExpires when
        // one of them never expires. The tokens of one family (one token id) may differ: an
        // attenuation can only shorten its parent's life, so the latest is the family's bound
        // among the tokens seen. Past it, no token can add to the count.
        std::int64_t expires = kNeverExpires;
    };
    // Requests admitted since the last call, per budget entry; counted as pushed (and added to
    // the shared count) at once. If pushing them fails, give them back with unpush().
    std::vector<BudgetDelta> take_budget_deltas();
    void unpush(const std::vector<BudgetDelta>& deltas);
    // The keys of the budget entries whose count can still matter at `now_unix` (Unix seconds):
    // a token that counted in it has not expired yet. The count of an entry past its expiry
    // cannot refuse anything (its tokens are refused as expired before the limiter is asked),
    // so the fleet stops reading it; entries pile up with every token ever seen, and reading
    // them all ten times a second would grow without bound. Should a longer-lived token of the
    // family (its parent) arrive later, the entry is live again and read from the next round,
    // as a family seen for the first time is.
    std::vector<std::string> budget_keys(std::int64_t now_unix) const;
    // The fleet-wide count of an entry, read from the shared store. Counts never go down (a
    // store that lost its data cannot renew a budget this gateway knows to be spent).
    void set_shared_count(std::string_view key, std::uint64_t total);

  private:
    explicit Limiter(LimitClock clock) : clock_(std::move(clock)) {}

    struct Entry {
        std::optional<TokenBucket> bucket;
        std::uint64_t concurrent = 0;
        std::uint64_t used = 0;    // admitted requests here, for a budget
        std::uint64_t pushed = 0;  // of `used`, those counted in the fleet's store
        std::uint64_t shared = 0;  // the fleet-wide count as last read (fleet mode)
        bool budgeted = false;
        std::int64_t expires = 0;  // BudgetDelta::expires; 0 before a request was admitted
        std::uint64_t budget_used() const { return std::max(shared, pushed) + (used - pushed); }
    };
    void release(const std::vector<std::string>& keys);
    void prune(std::chrono::steady_clock::time_point now);

    LimitClock clock_;
    mutable std::mutex mutex_;
    std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace cloakroom::runtime
