#include "secrets/file_provider.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "util/unique_fd.hpp"

namespace cloakroom::secrets {
namespace {

std::string octal(unsigned mode) {
    std::array<char, 16> buf{};
    std::snprintf(buf.data(), buf.size(), "%04o", mode);
    return buf.data();
}

Error fail(std::string code, std::string_view source, const std::string& what) {
    return make_error(std::move(code), std::string(source) + ": " + what);
}

std::string describe_type(mode_t mode) {
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

void warn_if_loose(std::vector<SecretWarning>* warnings, const std::string& path, mode_t st_mode,
                   unsigned expected, std::string_view what) {
    const unsigned mode = st_mode & 07777;
    if ((mode & 0077) == 0 || warnings == nullptr) return;
    warnings->push_back(SecretWarning{"unsafe_permissions", path, mode, expected,
                                      std::string(what) + " " + path + " has mode " + octal(mode) +
                                          "; expected " + octal(expected) +
                                          " (no group or other access). Used anyway; tighten "
                                          "it: chmod " +
                                          octal(expected) + " " + path});
}

}  // namespace

Result<SecretBuffer> read_secret_file(const std::filesystem::path& root, std::string_view id,
                                      const FileRules& rules, std::string_view source,
                                      std::vector<SecretWarning>* warnings,
                                      FileIdentity* identity) {
    const std::string root_text = root.string();
    if (root.empty()) {
        return fail("secret.missing", source,
                    "no " + std::string(rules.root_label) + " configured");
    }
    UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        const int err = errno;
        if (err == ENOENT) {
            return fail("secret.missing", source,
                        std::string(rules.root_label) + " " + root_text + " does not exist");
        }
        return fail("secret.io", source,
                    "cannot open " + std::string(rules.root_label) + " " + root_text + ": " +
                        std::strerror(err));
    }
    struct stat dir_stat {};
    if (::fstat(dir.get(), &dir_stat) != 0) {
        return fail("secret.io", source, "cannot stat " + root_text + ": " + std::strerror(errno));
    }
    warn_if_loose(warnings, root_text, dir_stat.st_mode, rules.expected_dir_mode, rules.root_label);

    const std::string path = (root / std::string(id)).string();
    const std::string id_text(id);
    struct stat link_stat {};
    if (::fstatat(dir.get(), id_text.c_str(), &link_stat, AT_SYMLINK_NOFOLLOW) != 0) {
        const int err = errno;
        if (err == ENOENT) return fail("secret.missing", source, "no secret file " + path);
        return fail("secret.io", source, "cannot stat " + path + ": " + std::strerror(err));
    }
    if (!S_ISREG(link_stat.st_mode)) {
        return fail(
            "secret.unsafe", source,
            path + " is " + describe_type(link_stat.st_mode) + "; secrets must be regular files");
    }

    // O_NONBLOCK: if the path is swapped for a FIFO after the lstat, open() must not hang
    // waiting for a writer. It has no effect on a regular file.
    UniqueFd file(
        ::openat(dir.get(), id_text.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!file) {
        const int err = errno;
        if (err == ELOOP) {
            return fail("secret.unsafe", source, path + " became a symbolic link while opening");
        }
        if (err == ENOENT) return fail("secret.missing", source, "no secret file " + path);
        return fail("secret.io", source, "cannot open " + path + ": " + std::strerror(err));
    }
    struct stat file_stat {};
    if (::fstat(file.get(), &file_stat) != 0) {
        return fail("secret.io", source, "cannot stat " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(file_stat.st_mode) || file_stat.st_dev != link_stat.st_dev ||
        file_stat.st_ino != link_stat.st_ino) {
        return fail("secret.unsafe", source, path + " was replaced while opening");
    }
    warn_if_loose(warnings, path, file_stat.st_mode, rules.expected_file_mode, "secret file");

    const std::string too_large =
        path + " is larger than " + std::to_string(kMaxSecretBytes) + " bytes";
    if (file_stat.st_size > static_cast<off_t>(kMaxSecretBytes)) {
        return fail("secret.invalid", source, too_large);
    }
    // One spare byte so a file that grew past the cap after fstat is still detected.
    SecretBuffer buffer(kMaxSecretBytes + 1);
    std::size_t total = 0;
    while (total < buffer.capacity()) {
        const ssize_t got = ::read(file.get(), buffer.data() + total, buffer.capacity() - total);
        if (got < 0) {
            if (errno == EINTR) continue;
            return fail("secret.io", source, "cannot read " + path + ": " + std::strerror(errno));
        }
        if (got == 0) break;
        total += static_cast<std::size_t>(got);
    }
    if (total > kMaxSecretBytes) return fail("secret.invalid", source, too_large);
    buffer.set_size(total);
    if (identity != nullptr) {
        identity->dir = dir_stat;
        identity->file = file_stat;
    }
    return buffer;
}

}  // namespace cloakroom::secrets
