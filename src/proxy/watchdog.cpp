#include "proxy/watchdog.hpp"

namespace cloakroom::proxy {

Watchdog::Watchdog(const boost::asio::any_io_executor& executor,
                   boost::asio::ip::tcp::socket& socket)
    : state_(std::make_shared<State>(executor)) {
    state_->socket = &socket;
}

Watchdog::~Watchdog() {
    release();
}

void Watchdog::release() {
    if (!state_) return;
    state_->socket = nullptr;
    ++state_->generation;  // the cancelled wait's completion is stale
    state_->timer.cancel();
    state_.reset();
}

void Watchdog::expires_after(clock::duration timeout) {
    State& s = *state_;
    s.deadline = clock::now() + timeout;
    // Only a deadline earlier than the outstanding wait needs the timer moved; a later one is
    // picked up when the wait completes.
    if (s.timer_at != clock::time_point::max() && s.deadline < s.timer_at) arm(state_, s.deadline);
}

void Watchdog::expires_never() {
    state_->deadline = clock::time_point::max();
}

bool Watchdog::begin() {
    State& s = *state_;
    if (s.expired) return false;
    ++s.in_progress;
    if (s.deadline != clock::time_point::max() && s.timer_at == clock::time_point::max()) {
        if (clock::now() >= s.deadline) {
            --s.in_progress;
            s.expired = true;
            return false;
        }
        arm(state_, s.deadline);
    }
    return true;
}

void Watchdog::arm(const std::shared_ptr<State>& state, clock::time_point at) {
    State& s = *state;
    s.timer_at = at;
    const std::uint64_t generation = ++s.generation;
    s.timer.expires_at(at);  // cancels an outstanding wait: its completion is stale
    s.timer.async_wait([state, generation](const boost::system::error_code&) {
        if (state->generation != generation) return;
        state->timer_at = clock::time_point::max();
        fire(state);
    });
}

void Watchdog::fire(const std::shared_ptr<State>& state) {
    State& s = *state;
    if (s.socket == nullptr || s.expired) return;
    // No operation in progress: the deadline lapses; the next begin() checks it again.
    if (s.in_progress == 0 || s.deadline == clock::time_point::max()) return;
    if (clock::now() < s.deadline) {
        arm(state, s.deadline);
        return;
    }
    s.expired = true;
    boost::system::error_code ignored;
    s.socket->close(ignored);  // pending waits complete with operation_aborted
}

}  // namespace cloakroom::proxy
