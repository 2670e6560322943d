// One SOCK_SEQPACKET message with file descriptors attached (SCM_RIGHTS): how the sandbox hands
// its listening sockets to `cloakroom run`, and `cloakroom run` hands them to the gateway.
#pragma once

#include <string>
#include <vector>

#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {

struct Message {
    std::string text;
    std::vector<UniqueFd> fds;
};

// Errors "sandbox.ipc". At most 16 fds per message.
Result<void> send_message(int socket, const std::string& text, const std::vector<int>& fds = {});
// An empty text with no fds means the peer closed the connection.
Result<Message> receive_message(int socket);

}  // namespace cloakroom::sandbox
