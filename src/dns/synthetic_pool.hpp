// Synthetic addresses for the names a sandbox may reach (docs/transparent.md, "DNS"): the DNS
// responder answers a configured or allowed name with an address from 198.18.0.0/15 (RFC 2544's
// benchmark range, never routed on the Internet) and one from the unique-local prefix
// fdc1:a4b:700d::/64 (the same index in both), and the transparent listener maps a connection
// to either address back to its name. An address is given to a name on its first
// query and stays with it for the gateway's lifetime. The addresses mean something only inside
// a sandbox: they are never dialed (upstream dials resolve the real name).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cloakroom::dns {

using Ipv4 = std::array<std::uint8_t, 4>;
using Ipv6 = std::array<std::uint8_t, 16>;

class SyntheticPool {
  public:
    // 198.18.0.1 .. 198.19.255.254.
    static constexpr std::size_t kCapacity = (1u << 17) - 2;

    explicit SyntheticPool(std::size_t capacity = kCapacity) : capacity_(capacity) {}

    // The address of `name` (lower-case, no trailing dot: the caller normalizes), given on first
    // use; nullopt when the pool is full. Thread-safe.
    std::optional<Ipv4> address_for(std::string_view name);
    // The same for the IPv6 synthetic prefix.
    std::optional<Ipv6> address6_for(std::string_view name);
    // The name an address was given to; nullopt when it was given to none. Thread-safe.
    std::optional<std::string> name_of(const Ipv4& address) const;
    std::optional<std::string> name_of(const Ipv6& address) const;

    // Whether `address` lies in 198.18.0.0/15.
    static bool in_range(const Ipv4& address) {
        return address[0] == 198 && (address[1] == 18 || address[1] == 19);
    }

    // Whether `address` lies in fdc1:a4b:700d::/64.
    static bool in_range(const Ipv6& address);

  private:
    std::optional<std::uint32_t> index_for(std::string_view name);
    std::optional<std::string> name_at(std::uint32_t index) const;

    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::uint32_t> by_name_;
    std::unordered_map<std::uint32_t, std::string> by_index_;
};

}  // namespace cloakroom::dns
