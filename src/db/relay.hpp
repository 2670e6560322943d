// After login: bytes both ways until either side closes. Optionally the client → upstream bytes
// pass a filter (Redis command caveats), which may rewrite them and may produce bytes for the
// client instead.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "db/stream.hpp"

namespace cloakroom::db {

struct RelayStats {
    std::uint64_t client_to_upstream = 0;  // bytes
    std::uint64_t upstream_to_client = 0;
    std::string ended_by;  // "client", "upstream", "filter", "error: ..."
};

// Called with each chunk read from the client; appends what to send upstream to `to_upstream`.
// Returns false to end the session (after `to_upstream` is flushed).
using ClientFilter = std::function<bool(std::string_view chunk, std::string& to_upstream)>;

// `pending_to_upstream` / `pending_to_client`: bytes already read past the login exchange that
// belong to the relayed stream (sent first). `client_goodbye`: the protocol's "I am leaving"
// message (PostgreSQL Terminate, MySQL COM_QUIT); when the last bytes the client sent are that
// message, the session ended by the client even if the server's close is seen first (both
// closes often arrive in the same event-loop turn).
net::awaitable<RelayStats> relay(DbStream& client, DbStream& upstream,
                                 std::string pending_to_upstream = {},
                                 std::string pending_to_client = {}, ClientFilter filter = nullptr,
                                 std::string_view client_goodbye = {});

}  // namespace cloakroom::db
