#include "sandbox/fd_passing.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace cloakroom::sandbox {
namespace {

constexpr std::size_t kMaxFds = 16;
constexpr std::size_t kMaxText = 64 * 1024;

Error ipc_error(const char* what) {
    return make_error("sandbox.ipc", std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

Result<void> send_message(int socket, const std::string& text, const std::vector<int>& fds) {
    if (fds.size() > kMaxFds) return make_error("sandbox.ipc", "too many descriptors");
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        const ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
        if (n >= 0) return {};
        if (errno != EINTR) return ipc_error("sendmsg");
    }
}

Result<Message> receive_message(int socket) {
    std::string buffer(kMaxText, '\0');
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = 0;
    for (;;) {
        n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
        if (n >= 0) break;
        if (errno != EINTR) return ipc_error("recvmsg");
    }
    Message out;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            out.fds.emplace_back(fd);
        }
    }
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        return make_error("sandbox.ipc", "message or descriptors truncated");
    }
    buffer.resize(static_cast<std::size_t>(n));
    out.text = std::move(buffer);
    return out;
}

}  // namespace cloakroom::sandbox
