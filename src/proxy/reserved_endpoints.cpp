#include "proxy/reserved_endpoints.hpp"

#include <atomic>
#include <mutex>
#include <vector>

namespace cloakroom::proxy {
namespace {

std::mutex reserved_mutex;
std::vector<boost::asio::ip::tcp::endpoint> reserved;
std::atomic<bool> any_reserved{false};  // the dial path skips the lock when none

// 127.0.0.1 and ::ffff:127.0.0.1 are the same listener for a v4-mapped dial.
boost::asio::ip::address plain(const boost::asio::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
    }
    return address;
}

}  // namespace

void reserve_endpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
    std::lock_guard lock(reserved_mutex);
    reserved.emplace_back(plain(endpoint.address()), endpoint.port());
    any_reserved.store(true, std::memory_order_release);
}

bool is_reserved_endpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
    if (!any_reserved.load(std::memory_order_acquire)) return false;
    const auto address = plain(endpoint.address());
    std::lock_guard lock(reserved_mutex);
    for (const auto& entry : reserved) {
        if (entry.port() != endpoint.port()) continue;
        // A loopback listener is reachable on every loopback address of its family
        // (127.0.0.2 reaches a 127.0.0.1 listener only if bound so; be strict anyway).
        if (entry.address().is_unspecified() || entry.address() == address ||
            (entry.address().is_loopback() && address.is_loopback())) {
            return true;
        }
    }
    return false;
}

void clear_reserved_endpoints() {
    std::lock_guard lock(reserved_mutex);
    reserved.clear();
    any_reserved.store(false, std::memory_order_release);
}

}  // namespace cloakroom::proxy
