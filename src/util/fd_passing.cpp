#include "util/fd_passing.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cloakroom {
namespace {

// Large enough for kMaxPassedFds descriptors, aligned as the kernel's cmsghdr walk expects.
struct ControlBuffer {
    alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
};

}  // namespace

ssize_t send_with_fds(int socket, std::string_view text, std::span<const int> fds, int flags) {
    if (fds.size() > kMaxPassedFds) {
        errno = EINVAL;
        return -1;
    }
    iovec io{const_cast<char*>(text.data()), text.size()};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    ControlBuffer control;
    if (!fds.empty()) {
        message.msg_control = control.bytes;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        const ssize_t sent = ::sendmsg(socket, &message, MSG_NOSIGNAL | flags);
        if (sent >= 0 || errno != EINTR) return sent;
    }
}

ReceivedWithFds receive_with_fds(int socket, std::size_t max_text, std::size_t max_fds, int flags) {
    ReceivedWithFds received;
    std::string buffer(max_text, '\0');
    iovec io{buffer.data(), max_text};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    ControlBuffer control;
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * std::min(max_fds, kMaxPassedFds));
    ssize_t n = -1;
    for (;;) {
        n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC | flags);
        if (n >= 0 || errno != EINTR) break;
    }
    if (n < 0) {
        received.error = errno;
        return received;
    }
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int passed = -1;
            std::memcpy(&passed, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
            received.fds.emplace_back(passed);
        }
    }
    received.bytes = n;
    received.text_truncated = (message.msg_flags & MSG_TRUNC) != 0;
    received.fds_truncated = (message.msg_flags & MSG_CTRUNC) != 0;
    buffer.resize(static_cast<std::size_t>(n));
    received.text = std::move(buffer);
    return received;
}

}  // namespace cloakroom
