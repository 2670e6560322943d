// Owns one POSIX file descriptor and closes it exactly once. Move-only, so ownership of an fd is
// always visible in the type and an early return can never leak one (fds are a finite resource
// and a leaked secret fd would stay readable by anything we later spawn without O_CLOEXEC).
#pragma once

#include <unistd.h>

#include <utility>

namespace cloakroom {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }

    // Gives up ownership without closing.
    int release() { return std::exchange(fd_, -1); }

    // Closes the current fd (if any) and takes `fd`. close() is not retried on EINTR: on Linux the
    // descriptor is released even then, and retrying could close an fd another thread just got.
    void reset(int fd = -1) {
        const int old = std::exchange(fd_, fd);
        if (old >= 0) ::close(old);
    }

  private:
    int fd_ = -1;
};

}  // namespace cloakroom
