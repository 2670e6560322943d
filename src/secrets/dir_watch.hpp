// An inotify watch on one secret root directory, plus watches on the inodes of the secret files
// read from it. SecretResolver uses it to serve a cached file value without any stat when
// nothing changed (see resolver.hpp). fsnotify queues an event inside the changing syscall
// (write, truncate, rename, unlink, chmod, chown, utimes, link...), so once that syscall has
// returned, drain() sees it: there is no window in which a finished change is invisible.
//
// The directory watch sees every change made through the directory (content, metadata, names,
// and the directory inode itself). The file watches add changes to a secret's inode made through
// another path (a hard link elsewhere). Neither sees the root *path* being redirected (a parent
// renamed, a symlink in the path swapped) or a mount placed on top; the resolver rechecks with
// stats periodically for that.
//
// Not thread-safe: the resolver calls it under its cache mutex.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/unique_fd.hpp"

namespace cloakroom::secrets {

class DirWatch {
  public:
    // Watches the directory that `dir_fd` (an open directory) refers to: the watch is added
    // through /proc/self/fd, so it is on exactly that inode whatever happens to the path. False
    // (and inactive) when inotify or /proc is unavailable, a limit is reached, or the directory
    // is not on a known local filesystem (on NFS, SMB, FUSE... a change made by another host
    // or by the FUSE server raises no event).
    bool start(int dir_fd);
    // Closes the inotify fd: every watch (directory and files) goes with it.
    void stop();
    bool active() const { return fd_.valid(); }
    // Device and inode of the watched directory (valid while active()).
    dev_t dev() const { return dev_; }
    ino_t ino() const { return ino_; }

    enum class Drain {
        Quiet,    // no event since the last drain
        Changed,  // something changed (or the queue overflowed): revalidate
        Lost,     // the directory watch is gone (directory removed, moved, unmounted) or the
                  // fd failed; the watch has been stopped
    };
    // Reads every pending event without blocking. One ioctl(FIONREAD) when there is none.
    // File watch descriptors that the kernel dropped (IN_IGNORED) are appended to `ignored`.
    Drain drain(std::vector<int>& ignored);
    // True when no event is pending (one ioctl(FIONREAD); changes nothing, so callers holding
    // only a shared lock may use it).
    bool quiet() const;

    // Adds a watch on the inode at `path` (a symlink is not followed). Returns its watch
    // descriptor, or -1 (the caller then validates with stats instead).
    int watch_file(const std::string& path);
    // Removes a file watch added by watch_file.
    void unwatch_file(int wd);

  private:
    UniqueFd fd_;
    int dir_wd_ = -1;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
};

}  // namespace cloakroom::secrets
