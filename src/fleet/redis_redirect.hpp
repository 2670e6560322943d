// Redis Cluster's redirections, as error replies: "MOVED 3999 127.0.0.1:6381" (the slot lives
// there now: talk to that node from now on) and "ASK 3999 127.0.0.1:6381" (this one command,
// during a slot migration: send it there once, after ASKING). Pure parsing, no sockets.
#pragma once

#include <optional>
#include <string_view>

#include "config/model.hpp"

namespace cloakroom::fleet {

struct Redirect {
    enum class Kind { Moved, Ask } kind = Kind::Moved;
    unsigned slot = 0;
    config::RedisNode node;
};

// The redirect an error reply's text names, or nullopt when it is no (well-formed) redirect.
// An empty host (":6381", Redis 7 with an unknown endpoint) means `current_host`; a "?" host
// (cluster-preferred-endpoint-type unknown-endpoint) is not followed.
std::optional<Redirect> parse_redirect(std::string_view error, std::string_view current_host);

}  // namespace cloakroom::fleet
