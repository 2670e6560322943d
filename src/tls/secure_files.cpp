#include "tls/secure_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/unique_fd.hpp"

namespace cloakroom::tls {
namespace {

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string octal(mode_t mode) {
    std::array<char, 16> buf{};
    std::snprintf(buf.data(), buf.size(), "%04o", static_cast<unsigned>(mode & 07777));
    return buf.data();
}

// `expected`: the size fstat reported. The buffer starts there, not at `limit`: zeroing a
// 16 MiB buffer to read a 200 KB trust bundle was most of `cloakroom run`'s start-up.
Result<std::string> read_fd(int fd, const std::filesystem::path& path, std::size_t limit,
                            const std::string& code, std::size_t expected) {
    // One spare byte detects a file that grew past the limit (or past fstat's size) meanwhile.
    std::string content(std::min(expected, limit) + 1, '\0');
    std::size_t total = 0;
    for (;;) {
        if (total == content.size()) {
            if (content.size() > limit) break;
            content.resize(std::min(content.size() * 2, limit + 1));
        }
        const ssize_t got = ::read(fd, content.data() + total, content.size() - total);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return make_error(code, "cannot read " + path.string() + ": " + errno_text(errno));
        if (got == 0) break;
        total += static_cast<std::size_t>(got);
    }
    if (total > limit) {
        return make_error(code,
                          path.string() + " is larger than " + std::to_string(limit) + " bytes");
    }
    content.resize(total);
    return content;
}

Result<void> write_all(int fd, std::string_view content, const std::string& path,
                       const std::string& code) {
    std::size_t written = 0;
    while (written < content.size()) {
        const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return make_error(code, "cannot write " + path + ": " + errno_text(errno));
        written += static_cast<std::size_t>(n);
    }
    return {};
}

// The rename/link itself is only durable once the directory entry is on disk.
void sync_dir(const std::filesystem::path& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) ::fsync(fd.get());
}

}  // namespace

Result<void> make_private_dirs(const std::filesystem::path& dir, const std::string& code) {
    std::filesystem::path current;
    for (const auto& part : dir.lexically_normal()) {
        current /= part;
        if (part.empty() || current == current.root_path()) continue;
        if (::mkdir(current.c_str(), 0700) == 0 || errno == EEXIST) continue;
        return make_error(code,
                          "cannot create directory " + current.string() + ": " + errno_text(errno));
    }
    struct stat info {};
    if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
        return make_error(code, dir.string() + " is not a directory");
    }
    return {};
}

Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t limit,
                                    const std::string& code) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return make_error(code, "cannot open " + path.string() + ": " + errno_text(errno));
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        return make_error(code, path.string() + " is not a regular file");
    }
    return read_fd(fd.get(), path, limit, code, static_cast<std::size_t>(info.st_size));
}

Result<std::string> read_private_file(const std::filesystem::path& path, std::size_t limit,
                                      const std::string& code) {
    struct stat link_info {};
    if (::lstat(path.c_str(), &link_info) != 0) {
        return make_error(code, "cannot stat " + path.string() + ": " + errno_text(errno));
    }
    if (S_ISLNK(link_info.st_mode)) {
        // Following it would let whoever controls the link target choose our signing key.
        return make_error(code, path.string() +
                                    " is a symbolic link; the CA key must be a regular file "
                                    "(replace the link with the file itself)");
    }
    // O_NOFOLLOW closes the race between lstat and open; O_NONBLOCK keeps a FIFO from hanging us.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return make_error(code, "cannot open " + path.string() + ": " + errno_text(errno));
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        return make_error(code, path.string() + " is not a regular file");
    }
    if ((info.st_mode & 077) != 0) {
        return make_error(code, path.string() + " has mode " + octal(info.st_mode) +
                                    "; the CA key must be readable by its owner only. Fix it "
                                    "with: chmod 600 " +
                                    path.string());
    }
    return read_fd(fd.get(), path, limit, code, static_cast<std::size_t>(info.st_size));
}

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                               mode_t mode, WriteMode write_mode, const std::string& code) {
    const std::string target = path.string();
    // mkostemp opens with O_CREAT|O_EXCL and mode 0600, so the content is never visible to
    // others before fchmod widens it (for the public bundle only).
    std::string temp = target + ".tmp-XXXXXX";
    UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (!fd)
        return make_error(
            code, "cannot create a temporary file beside " + target + ": " + errno_text(errno));
    // Removes the temporary file on every early return; disarmed once it has been moved.
    struct TempGuard {
        std::string name;
        bool armed = true;
        ~TempGuard() {
            if (armed) ::unlink(name.c_str());
        }
    } guard{temp};

    if (::fchmod(fd.get(), mode) != 0) {
        return make_error(code, "cannot set the mode of " + temp + ": " + errno_text(errno));
    }
    if (auto wrote = write_all(fd.get(), content, temp, code); !wrote) return wrote.error();
    if (::fsync(fd.get()) != 0) {
        return make_error(code, "cannot sync " + temp + ": " + errno_text(errno));
    }
    fd.reset();
    if (write_mode == WriteMode::kReplace) {
        if (::rename(temp.c_str(), target.c_str()) != 0) {
            return make_error(code,
                              "cannot move " + temp + " to " + target + ": " + errno_text(errno));
        }
        guard.armed = false;
    } else {
        // link() is atomic and never replaces: of two racing writers exactly one wins.
        if (::link(temp.c_str(), target.c_str()) != 0) {
            const int err = errno;
            if (err == EEXIST) {
                return make_error(code, target + " already exists; refusing to overwrite it");
            }
            return make_error(code, "cannot create " + target + ": " + errno_text(err));
        }
    }
    sync_dir(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
    return {};
}

}  // namespace cloakroom::tls
