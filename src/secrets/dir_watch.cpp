#include "secrets/dir_watch.hpp"

#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace cloakroom::secrets {
namespace {

// Directory: any change of a child's content, metadata or name, or of the directory itself.
// IN_EXCL_UNLINK: a file renamed out of the directory no longer reports here.
constexpr std::uint32_t kDirMask = IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
                                   IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_EXCL_UNLINK | IN_ONLYDIR;
// A secret file's inode, however it is reached: content, metadata (incl. the link count).
constexpr std::uint32_t kFileMask =
    IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW;
// Events on the directory watch that mean it no longer watches the secret directory.
constexpr std::uint32_t kDirLost = IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT;

// Local filesystems, where every change goes through this kernel and so reaches inotify. On a
// network or FUSE filesystem a change made by another host (or the FUSE server) raises no event:
// those keep validating with stats.
bool local_filesystem(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) return false;
    switch (static_cast<std::uint64_t>(fs.f_type)) {
        case 0xEF53:      // ext2/3/4
        case 0x58465342:  // xfs
        case 0x9123683E:  // btrfs
        case 0x01021994:  // tmpfs
        case 0x858458F6:  // ramfs (systemd credentials)
        case 0xF2F52010:  // f2fs
        case 0x2FC12FC1:  // zfs
        case 0xCA451A4E:  // bcachefs
        case 0x794C7630:  // overlayfs
            return true;
        default:
            return false;
    }
}

}  // namespace

bool DirWatch::start(int dir_fd) {
    stop();
    struct stat dir_stat {};
    if (::fstat(dir_fd, &dir_stat) != 0 || !S_ISDIR(dir_stat.st_mode)) return false;
    if (!local_filesystem(dir_fd)) return false;
    UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd) return false;
    const std::string proc_path = "/proc/self/fd/" + std::to_string(dir_fd);
    const int wd = ::inotify_add_watch(fd.get(), proc_path.c_str(), kDirMask);
    if (wd < 0) return false;
    fd_ = std::move(fd);
    dir_wd_ = wd;
    dev_ = dir_stat.st_dev;
    ino_ = dir_stat.st_ino;
    return true;
}

void DirWatch::stop() {
    fd_.reset();
    dir_wd_ = -1;
    dev_ = 0;
    ino_ = 0;
}

bool DirWatch::quiet() const {
    if (!fd_) return false;
    int pending = 0;
    return ::ioctl(fd_.get(), FIONREAD, &pending) == 0 && pending == 0;
}

DirWatch::Drain DirWatch::drain(std::vector<int>& ignored) {
    if (!fd_) return Drain::Lost;
    // FIONREAD takes only the queue's spinlock, a read() that finds nothing also sets up and
    // tears down a wait queue: the common "nothing happened" case costs less this way. The event
    // of a finished syscall is already queued, so either sees it.
    int pending = 0;
    if (::ioctl(fd_.get(), FIONREAD, &pending) == 0 && pending == 0) return Drain::Quiet;
    Drain result = Drain::Quiet;
    alignas(struct inotify_event) char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(fd_.get(), buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            stop();  // unexpected: give up on inotify for this directory
            return Drain::Lost;
        }
        if (got == 0) break;
        if (result == Drain::Quiet) result = Drain::Changed;
        std::size_t offset = 0;
        while (offset + sizeof(struct inotify_event) <= static_cast<std::size_t>(got)) {
            struct inotify_event event {};
            std::memcpy(&event, buffer + offset, sizeof event);
            offset += sizeof(struct inotify_event) + event.len;
            if (event.wd == dir_wd_ && (event.mask & kDirLost) != 0) {
                result = Drain::Lost;
            } else if (event.wd >= 0 && (event.mask & IN_IGNORED) != 0) {
                ignored.push_back(event.wd);
            }
        }
    }
    if (result == Drain::Lost) stop();
    return result;
}

int DirWatch::watch_file(const std::string& path) {
    if (!fd_) return -1;
    const int wd = ::inotify_add_watch(fd_.get(), path.c_str(), kFileMask);
    // The directory itself (the ID names a directory) shares dir_wd_: never hand that out.
    if (wd < 0 || wd == dir_wd_) return -1;
    return wd;
}

void DirWatch::unwatch_file(int wd) {
    if (fd_ && wd >= 0 && wd != dir_wd_) ::inotify_rm_watch(fd_.get(), wd);
}

}  // namespace cloakroom::secrets
