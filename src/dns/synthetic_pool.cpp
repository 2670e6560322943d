#include "dns/synthetic_pool.hpp"

#include <algorithm>

namespace cloakroom::dns {
namespace {

constexpr std::uint32_t kBase = (198u << 24) | (18u << 16);  // 198.18.0.0
constexpr std::array<std::uint8_t, 8> kPrefix6{0xfd, 0xc1, 0x0a, 0x4b, 0x70, 0x0d, 0, 0};

Ipv4 address_of(std::uint32_t index) {
    const std::uint32_t value = kBase + index;
    return {static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
            static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}

Ipv6 address6_of(std::uint32_t index) {
    Ipv6 address{};
    std::copy(kPrefix6.begin(), kPrefix6.end(), address.begin());
    address[12] = static_cast<std::uint8_t>(index >> 24);
    address[13] = static_cast<std::uint8_t>(index >> 16);
    address[14] = static_cast<std::uint8_t>(index >> 8);
    address[15] = static_cast<std::uint8_t>(index);
    return address;
}

}  // namespace

bool SyntheticPool::in_range(const Ipv6& address) {
    return std::equal(kPrefix6.begin(), kPrefix6.end(), address.begin());
}

std::optional<std::uint32_t> SyntheticPool::index_for(std::string_view name) {
    const std::lock_guard lock(mutex_);
    if (auto found = by_name_.find(std::string(name)); found != by_name_.end()) {
        return found->second;
    }
    if (by_name_.size() >= capacity_ || by_name_.size() >= kCapacity) return std::nullopt;
    const auto index = static_cast<std::uint32_t>(by_name_.size() + 1);  // .0 is the network
    by_name_.emplace(std::string(name), index);
    by_index_.emplace(index, std::string(name));
    return index;
}

std::optional<std::string> SyntheticPool::name_at(std::uint32_t index) const {
    const std::lock_guard lock(mutex_);
    auto found = by_index_.find(index);
    if (found == by_index_.end()) return std::nullopt;
    return found->second;
}

std::optional<Ipv4> SyntheticPool::address_for(std::string_view name) {
    auto index = index_for(name);
    if (!index) return std::nullopt;
    return address_of(*index);
}

std::optional<Ipv6> SyntheticPool::address6_for(std::string_view name) {
    auto index = index_for(name);
    if (!index) return std::nullopt;
    return address6_of(*index);
}

std::optional<std::string> SyntheticPool::name_of(const Ipv4& address) const {
    if (!in_range(address)) return std::nullopt;
    const std::uint32_t value = (std::uint32_t{address[0]} << 24) |
                                (std::uint32_t{address[1]} << 16) |
                                (std::uint32_t{address[2]} << 8) | address[3];
    return name_at(value - kBase);
}

std::optional<std::string> SyntheticPool::name_of(const Ipv6& address) const {
    if (!in_range(address)) return std::nullopt;
    if (address[8] != 0 || address[9] != 0 || address[10] != 0 || address[11] != 0) {
        return std::nullopt;
    }
    const std::uint32_t index = (std::uint32_t{address[12]} << 24) |
                                (std::uint32_t{address[13]} << 16) |
                                (std::uint32_t{address[14]} << 8) | address[15];
    return name_at(index);
}

}  // namespace cloakroom::dns
