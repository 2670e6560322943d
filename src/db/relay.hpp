// After login: bytes both ways until either side closes. Each direction may pass a filter
// (PostgreSQL and MySQL: the client's messages are checked for re-authentication, the server's
// replies are redacted), which may rewrite the bytes and may end the session.
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

// Called with each chunk read from one side; appends what to send to the other side to `out`.
// Returns false to end the session (after `out` is flushed).
using StreamFilter = std::function<bool(std::string_view chunk, std::string& out)>;

struct RelayFilters {
    StreamFilter client;  // client → upstream (nullptr: bytes pass unchanged)
    StreamFilter server;  // upstream → client (nullptr: bytes pass unchanged)
    // When the client filter ended the session: what the client gets once the upstream → client
    // direction has stopped (the upstream is closed first), e.g. a protocol error. May be empty.
    std::function<std::string()> client_last_words;
};

// `pending_to_upstream` / `pending_to_client`: bytes already read past the login exchange that
// belong to the relayed stream (sent first, through the filters). `client_goodbye`: the
// protocol's "I am leaving" message (PostgreSQL Terminate, MySQL COM_QUIT); when the last bytes
// the client sent are that message, the session ended by the client even if the server's close
// is seen first (both closes often arrive in the same event-loop turn).
net::awaitable<RelayStats> relay(DbStream& client, DbStream& upstream,
                                 std::string pending_to_upstream = {},
                                 std::string pending_to_client = {}, RelayFilters filters = {},
                                 std::string_view client_goodbye = {});

}  // namespace cloakroom::db
