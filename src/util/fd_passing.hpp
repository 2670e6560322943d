// One unix-socket message with file descriptors attached (SCM_RIGHTS). The sandbox hands its
// listening sockets to `cloakroom run` and on to the gateway this way, and the browser bridge's
// connector answers with a connected socket: one implementation of the control-message
// arithmetic, so every received descriptor is owned (and closed on every error path) at once.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/unique_fd.hpp"

namespace cloakroom {

// At most this many descriptors in one message, either way.
inline constexpr std::size_t kMaxPassedFds = 16;

// Sends `text` with `fds` attached in one sendmsg (MSG_NOSIGNAL | `flags`), retried on EINTR.
// Returns the bytes sent, or -1 with errno set (EINVAL for more than kMaxPassedFds).
ssize_t send_with_fds(int socket, std::string_view text, std::span<const int> fds, int flags = 0);

struct ReceivedWithFds {
    // Bytes received, 0 at end of stream, -1 with `error` holding errno.
    ssize_t bytes = -1;
    int error = 0;
    std::string text;
    // Every descriptor that arrived, owned, even when the message is reported truncated.
    std::vector<UniqueFd> fds;
    bool text_truncated = false;  // MSG_TRUNC: the text was longer than max_text
    bool fds_truncated = false;   // MSG_CTRUNC: more than max_fds descriptors were sent
};

// Receives one message of at most `max_text` bytes and `max_fds` (<= kMaxPassedFds)
// descriptors, with MSG_CMSG_CLOEXEC | `flags`, retried on EINTR.
ReceivedWithFds receive_with_fds(int socket, std::size_t max_text, std::size_t max_fds,
                                 int flags = 0);

}  // namespace cloakroom
