// The tokens an agent's HTTP connection carried, as live sessions of the gateway's
// runtime::SessionRegistry, so that revoking a token also ends the connections it opened
// (docs/architecture.md, "Sessions"). The unit is (connection, token id): a kept-alive
// connection registers a token on its first allowed request and then only compares ids, so the
// hot path takes no lock and allocates nothing. Ending it shuts the agent's socket down both
// ways and cancels what waits on it: a waiting connection ends at once, an exchange in flight at
// its next read or write of the agent's side. Lives in the connection's coroutine frame, after
// the stream whose socket it names (destroyed first, unregistering before the socket goes).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/audit.hpp"
#include "runtime/session_registry.hpp"

namespace cloakroom::proxy {

class ConnectionSessions {
  public:
    // `registry` may be null (no registration: tests without a server).
    ConnectionSessions(runtime::SessionRegistry* registry, boost::asio::ip::tcp::socket& socket)
        : registry_(registry), socket_(socket) {}
    ConnectionSessions(const ConnectionSessions&) = delete;
    ConnectionSessions& operator=(const ConnectionSessions&) = delete;

    // An allowed request of this connection carried `token_id`.
    void note(std::string_view token_id, std::optional<std::int64_t> minted) {
        if (registry_ == nullptr || token_id.empty()) return;
        for (const auto& entry : entries_) {
            if (entry.token_id == token_id) return;
        }
        boost::asio::ip::tcp::socket& socket = socket_;
        auto registration = registry_->add(
            runtime::kAuditHttp, token_id, socket.get_executor(),
            [&socket] {
                boost::system::error_code ignored;
                socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
                socket.cancel(ignored);
            },
            minted);
        entries_.push_back(Entry{std::string(token_id), std::move(registration)});
    }

    // Before the socket changes hands (a CONNECT after absolute-form requests).
    void clear() { entries_.clear(); }

  private:
    struct Entry {
        std::string token_id;
        std::unique_ptr<runtime::SessionRegistry::Registration> registration;
    };
    runtime::SessionRegistry* registry_;
    boost::asio::ip::tcp::socket& socket_;
    std::vector<Entry> entries_;  // usually one: an agent sends one token per connection
};

}  // namespace cloakroom::proxy
