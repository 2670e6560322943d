// Private AF_UNIX SOCK_SEQPACKET sockets for local control channels (the browser bridge's
// open-URL socket): one message per request, so no framing, and SO_PEERCRED names the peer.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom {

// Creates `path`'s directory (0700 when created), replaces a stale socket file (nothing
// listening), refuses a live one, binds, makes the socket 0600 before listen(). Non-blocking,
// close-on-exec. Errors carry `code`; a path longer than a unix address allows gets
// `code` + ".path". `what` names the socket in messages ("sandbox socket"); a live socket is
// "another `cloakroom serve` is already listening on PATH" (only gateways listen on these).
Result<UniqueFd> listen_unix_seqpacket(const std::filesystem::path& path, std::string_view code,
                                       std::string_view what);

Result<UniqueFd> connect_unix_seqpacket(const std::filesystem::path& path, std::string_view code,
                                        std::string_view what);

// Whether the process at the other end runs as this process's effective user.
bool peer_is_same_user(int fd);

}  // namespace cloakroom
