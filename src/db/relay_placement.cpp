#include "db/relay_placement.hpp"

#include <utility>

namespace cloakroom::db {

RelayPlacement::RelayPlacement(std::vector<boost::asio::io_context*> contexts)
    : contexts_(std::move(contexts)),
      sessions_(std::make_unique<std::atomic<std::size_t>[]>(contexts_.size())) {}

RelayPlacement::Lease::Lease(std::shared_ptr<RelayPlacement> placement, std::size_t index)
    : placement_(std::move(placement)), index_(index) {
    placement_->sessions_[index_].fetch_add(1, std::memory_order_relaxed);
}

RelayPlacement::Lease::~Lease() {
    if (placement_) placement_->sessions_[index_].fetch_sub(1, std::memory_order_relaxed);
}

RelayPlacement::Lease::Lease(Lease&& other) noexcept
    : placement_(std::move(other.placement_)), index_(other.index_) {}

boost::asio::io_context& RelayPlacement::Lease::context() const {
    return *placement_->contexts_[index_];
}

std::optional<RelayPlacement::Lease> RelayPlacement::take(
    const std::shared_ptr<RelayPlacement>& placement) {
    if (!placement || placement->contexts_.empty()) return std::nullopt;
    // Two sessions picking at once may both pick the same context: the counts only balance,
    // they promise nothing, so no lock.
    std::size_t best = 0;
    std::size_t best_load = placement->load(0);
    for (std::size_t i = 1; i < placement->contexts_.size(); ++i) {
        const std::size_t load = placement->load(i);
        if (load < best_load) {
            best = i;
            best_load = load;
        }
    }
    return Lease(placement, best);
}

std::size_t RelayPlacement::load(std::size_t index) const {
    return sessions_[index].load(std::memory_order_relaxed);
}

}  // namespace cloakroom::db
