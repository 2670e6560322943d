#include "util/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace cloakroom {
namespace {

std::string errno_text(int error) {
    return std::strerror(error);
}

Result<sockaddr_un> unix_address(const std::filesystem::path& path, std::string_view code,
                                 std::string_view what) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string text = path.string();
    if (text.size() >= sizeof(address.sun_path)) {
        return make_error(std::string(code) + ".path",
                          std::string(what) + " path " + text + " is too long for a unix socket (" +
                              std::to_string(text.size()) + " bytes, at most " +
                              std::to_string(sizeof(address.sun_path) - 1) + ")");
    }
    std::memcpy(address.sun_path, text.data(), text.size());
    return address;
}

}  // namespace

Result<UniqueFd> listen_unix_seqpacket(const std::filesystem::path& path, std::string_view code,
                                       std::string_view what) {
    auto address = unix_address(path, code, what);
    if (!address.ok()) return address.error();
    auto fail = [&](const std::string& message) { return make_error(std::string(code), message); };
    const auto directory = path.parent_path();
    if (!directory.empty()) {
        std::error_code ec;
        const bool created = std::filesystem::create_directories(directory, ec);
        if (ec || (created && ::chmod(directory.c_str(), 0700) != 0)) {
            return fail("cannot create " + directory.string() + ": " +
                        (ec ? ec.message() : errno_text(errno)));
        }
    }
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) {
        if (!S_ISSOCK(info.st_mode)) {
            return fail("cannot use " + path.string() + ": it exists and is not a socket");
        }
        UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        if (probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&*address),
                               sizeof(*address)) == 0) {
            return fail("another `cloakroom serve` is already listening on " + path.string());
        }
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return fail("cannot replace the stale socket " + path.string() + ": " +
                        errno_text(errno));
        }
    } else if (errno != ENOENT) {
        return fail("cannot use " + path.string() + ": " + errno_text(errno));
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail("cannot create the " + std::string(what) + ": " + errno_text(errno));
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0) {
        return fail("cannot listen on " + path.string() + ": " + errno_text(errno));
    }
    // Before listen(): nobody can connect yet.
    if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd.get(), 16) != 0) {
        const std::string why = errno_text(errno);
        ::unlink(path.c_str());
        return fail("cannot listen on " + path.string() + ": " + why);
    }
    return fd;
}

Result<UniqueFd> connect_unix_seqpacket(const std::filesystem::path& path, std::string_view code,
                                        std::string_view what) {
    auto address = unix_address(path, code, what);
    if (!address.ok()) return address.error();
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd)
        return make_error(std::string(code), "cannot create a unix socket: " + errno_text(errno));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0) {
        return make_error(std::string(code),
                          "cannot connect to " + path.string() + ": " + errno_text(errno));
    }
    return fd;
}

bool peer_is_same_user(int fd) {
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return false;
    return peer.uid == ::geteuid();
}

}  // namespace cloakroom
