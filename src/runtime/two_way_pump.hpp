// The one two-way pump: bytes both ways between two streams until the session ends, with an
// optional filter per direction (pump_filter.hpp). Used by blind tunnels (no filters, half-close)
// and the database relays (filters, the session ends with either side); the WebSocket relay is
// next (docs/architecture.md, "The two-way pump").
//
// A side is any type with
//   awaitable<size_t> read_some(mutable_buffer, error_code&)   // 0 + ec at the end
//   awaitable<void>   write_all(string_view, error_code&)
//   void close();            // idempotent; pending operations complete with an error
//   void shutdown_send();    // half-close (EndMode::HalfClose only)
// and may also have the fast path of socket_io.hpp (FastSide below), used first when present:
//   optional<size_t> try_read(mutable_buffer, error_code&)    // nullopt: wait (read_when_ready)
//   awaitable<size_t> read_when_ready(mutable_buffer, error_code&)
//   string_view       try_write(string_view, error_code&)     // the rest, for write_all
// Both directions run on the calling coroutine's executor, one thread, no strand needed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/pump_filter.hpp"

namespace cloakroom::runtime {

enum class EndMode : std::uint8_t {
    Close,      // one direction ends: both sides are closed (sessions)
    HalfClose,  // a side's EOF is passed on as shutdown(SHUT_WR); the other direction goes on
                // (TCP tunnels); a failure still closes both
};

struct PumpOptions {
    // Bytes already read before the relay began, sent first (through the direction's filter).
    std::string pending_a_to_b;
    std::string pending_b_to_a;
    PumpFilter* a_to_b = nullptr;  // nullptr: bytes pass unchanged
    PumpFilter* b_to_a = nullptr;
    EndMode end_mode = EndMode::Close;
    // Both directions silent this long ends the relay ("idle"). Zero: never. Checked by one
    // timer per relay, not re-armed per message, so it fires between 1x and 2x the timeout.
    std::chrono::steady_clock::duration idle_timeout{};
    // How long the other direction may take to finish after a filter stopped the session.
    std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
    // A's "I am leaving" message (PostgreSQL Terminate, MySQL COM_QUIT): when the last bytes A
    // sent are that, the session ended by A even if B's close is seen first (both closes often
    // arrive in the same event-loop turn).
    std::string_view a_goodbye;
    const char* a_name = "client";
    const char* b_name = "upstream";
    std::size_t chunk_size = 32 * 1024;  // per direction
};

struct PumpResult {
    std::uint64_t a_to_b = 0;  // bytes written
    std::uint64_t b_to_a = 0;
    // Who ended the session first: a_name, b_name, "idle", a filter's stop_reason(), or
    // "error: ...".
    std::string ended_by;
};

namespace pump_detail {

template <class Side>
concept FastSide = requires(Side& side, boost::asio::mutable_buffer into, std::string_view bytes,
                            boost::system::error_code& ec) {
    { side.try_read(into, ec) } -> std::same_as<std::optional<std::size_t>>;
    { side.read_when_ready(into, ec) } -> std::same_as<boost::asio::awaitable<std::size_t>>;
    { side.try_write(bytes, ec) } -> std::same_as<std::string_view>;
};

inline constexpr std::size_t kTail = 8;

inline void keep_tail(std::string& tail, std::string_view written) {
    if (written.size() >= kTail) {
        tail.assign(written.substr(written.size() - kTail));
        return;
    }
    tail.append(written);
    if (tail.size() > kTail) tail.erase(0, tail.size() - kTail);
}

inline bool is_eof(const boost::system::error_code& ec) {
    return ec == boost::asio::error::eof;
}

template <class A, class B>
struct Relay {
    Relay(A& side_a, B& side_b, PumpOptions& pump_options, boost::asio::steady_timer& a_done,
          boost::asio::steady_timer& b_done)
        : a(side_a), b(side_b), options(pump_options), finished{&a_done, &b_done} {}

    A& a;
    B& b;
    PumpOptions& options;
    boost::asio::steady_timer* finished[2];  // cancelled when direction i (reading side i) ends
    std::string first_end;
    std::uint64_t moved = 0;  // bumped on every write; the idle watch compares it
    std::uint64_t bytes[2] = {0, 0};
    std::string a_tail;  // the last bytes A sent (for a_goodbye)
    // A side kept open while its direction's filter waits to send last words.
    bool hold_open[2] = {false, false};
    bool stopping[2] = {false, false};  // direction i was stopped by its filter
    bool done[2] = {false, false};

    void end(std::string why) {
        if (first_end.empty()) first_end = std::move(why);
    }
    void close_side(int side) {
        if (side == 0) {
            a.close();
        } else {
            b.close();
        }
    }
    void close_both() {
        if (!hold_open[0]) a.close();
        if (!hold_open[1]) b.close();
    }
    void finish(int side) {
        done[side] = true;
        finished[side]->cancel();
    }
    const char* name(int side) const { return side == 0 ? options.a_name : options.b_name; }

    template <class From, class To>
    boost::asio::awaitable<void> direction(int from_side, From& from, To& to, std::string pending,
                                           PumpFilter* filter) {
        boost::system::error_code ec;
        std::string filtered;
        std::vector<char> buffer(options.chunk_size);
        std::string_view chunk = pending;
        for (;;) {
            auto verdict = PumpFilter::Verdict::Continue;
            if (filter != nullptr) {
                filtered.clear();
                verdict = filter->feed(chunk, filtered);
                chunk = filtered;
            }
            if (!chunk.empty()) {
                std::string_view rest = chunk;
                if constexpr (FastSide<To>) rest = to.try_write(chunk, ec);
                if (!ec && !rest.empty()) co_await to.write_all(rest, ec);
                if (ec) {
                    end("error: write: " + ec.message());
                    close_both();
                    co_return;
                }
                bytes[from_side] += chunk.size();
                ++moved;
                if (from_side == 0) keep_tail(a_tail, chunk);
            }
            if (verdict == PumpFilter::Verdict::Stop) {
                end(filter->stop_reason());
                co_await stop_by_filter(from_side, *filter);
                co_return;
            }
            const boost::asio::mutable_buffer into = boost::asio::buffer(buffer);
            std::size_t n = 0;
            if constexpr (FastSide<From>) {
                const std::optional<std::size_t> got = from.try_read(into, ec);
                if (got) {
                    n = *got;
                } else {
                    n = co_await from.read_when_ready(into, ec);
                }
            } else {
                n = co_await from.read_some(into, ec);
            }
            if (ec || n == 0) {
                end(name(from_side));
                if (options.end_mode == EndMode::HalfClose && is_eof(ec)) {
                    to.shutdown_send();  // the other direction goes on
                } else {
                    close_both();
                }
                co_return;
            }
            chunk = std::string_view(buffer.data(), n);
        }
    }

    // Waits until direction `side` has ended, or `limit` passed.
    boost::asio::awaitable<void> wait_for(int side, std::chrono::steady_clock::duration limit) {
        if (done[side]) co_return;
        boost::system::error_code ec;
        finished[side]->expires_after(limit);
        co_await finished[side]->async_wait(
            boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        finished[side]->expires_at(boost::asio::steady_timer::time_point::max());
    }

    // Direction `from_side`'s filter stopped the session: let the other direction finish or cut
    // it (closing its source), then the filter's last words to this direction's source.
    boost::asio::awaitable<void> stop_by_filter(int from_side, PumpFilter& filter) {
        const int to_side = 1 - from_side;
        stopping[from_side] = true;
        // The other direction stopped first and waits for this one: it finishes the session.
        if (stopping[to_side] || done[to_side]) co_return;
        hold_open[from_side] = true;
        if (!filter.lets_other_direction_finish()) close_side(to_side);
        co_await wait_for(to_side, options.grace);
        close_side(to_side);
        const std::string words = filter.last_words();
        if (!words.empty()) {
            boost::system::error_code ec;
            if (from_side == 0) {
                co_await a.write_all(words, ec);
            } else {
                co_await b.write_all(words, ec);
            }
            if (!ec) bytes[to_side] += words.size();
        }
        hold_open[from_side] = false;
        close_side(from_side);
    }
};

}  // namespace pump_detail

// Runs until both directions have ended; both streams are closed on return.
template <class A, class B>
boost::asio::awaitable<PumpResult> pump_both_ways(A& a, B& b, PumpOptions options) {
    namespace net = boost::asio;
    auto executor = co_await net::this_coro::executor;
    net::steady_timer a_done(executor, net::steady_timer::time_point::max());
    net::steady_timer b_done(executor, net::steady_timer::time_point::max());
    pump_detail::Relay<A, B> relay(a, b, options, a_done, b_done);

    // The idle watch: one timer per relay, comparing the write counter between two firings.
    auto idle_timer = std::make_shared<net::steady_timer>(executor);
    if (options.idle_timeout.count() > 0) {
        struct Watch {
            std::shared_ptr<net::steady_timer> timer;
            pump_detail::Relay<A, B>* relay;
            std::chrono::steady_clock::duration period;
            std::uint64_t last_seen;
            void arm() {
                timer->expires_after(period);
                auto self = *this;
                timer->async_wait([self](boost::system::error_code ec) mutable {
                    if (ec) return;  // cancelled: the relay ended
                    if (self.relay->moved == self.last_seen) {
                        self.relay->end("idle");
                        self.relay->hold_open[0] = self.relay->hold_open[1] = false;
                        self.relay->close_both();
                        return;
                    }
                    self.last_seen = self.relay->moved;
                    self.arm();
                });
            }
        };
        Watch{idle_timer, &relay, options.idle_timeout, 0}.arm();
    }

    net::co_spawn(executor,
                  relay.direction(1, b, a, std::move(options.pending_b_to_a), options.b_to_a),
                  [&relay](std::exception_ptr) { relay.finish(1); });
    co_await relay.direction(0, a, b, std::move(options.pending_a_to_b), options.a_to_b);
    relay.finish(0);
    boost::system::error_code ec;
    while (!relay.done[1]) {
        co_await b_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    idle_timer->cancel();
    relay.hold_open[0] = relay.hold_open[1] = false;
    relay.close_both();

    PumpResult result;
    result.a_to_b = relay.bytes[0];
    result.b_to_a = relay.bytes[1];
    result.ended_by = relay.first_end;
    if (result.ended_by == options.b_name && !options.a_goodbye.empty() &&
        std::string_view(relay.a_tail).ends_with(options.a_goodbye)) {
        result.ended_by = options.a_name;
    }
    co_return result;
}

}  // namespace cloakroom::runtime
