#include "sandbox/fd_passing.hpp"

#include <cerrno>
#include <cstring>

#include "util/fd_passing.hpp"

namespace cloakroom::sandbox {
namespace {

constexpr std::size_t kMaxText = 64 * 1024;

Error ipc_error(const char* what, int error) {
    return make_error("sandbox.ipc", std::string(what) + ": " + std::strerror(error));
}

}  // namespace

Result<void> send_message(int socket, const std::string& text, const std::vector<int>& fds) {
    if (fds.size() > kMaxPassedFds) return make_error("sandbox.ipc", "too many descriptors");
    if (send_with_fds(socket, text, fds) < 0) return ipc_error("sendmsg", errno);
    return {};
}

Result<Message> receive_message(int socket) {
    ReceivedWithFds received = receive_with_fds(socket, kMaxText, kMaxPassedFds);
    if (received.bytes < 0) return ipc_error("recvmsg", received.error);
    if (received.text_truncated || received.fds_truncated) {
        return make_error("sandbox.ipc", "message or descriptors truncated");
    }
    return Message{std::move(received.text), std::move(received.fds)};
}

}  // namespace cloakroom::sandbox
