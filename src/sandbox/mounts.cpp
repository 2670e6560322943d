#include "sandbox/mounts.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sandbox/browser_shims.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {
namespace {

namespace fs = std::filesystem;

// <linux/mount.h> clashes with <sys/mount.h> on glibc 2.36; the ABI is stable.
struct MountAttr {
    std::uint64_t attr_set;
    std::uint64_t attr_clr;
    std::uint64_t propagation;
    std::uint64_t userns_fd;
};
constexpr std::uint64_t kAttrRdonly = 0x00000001;
constexpr std::uint64_t kAttrNosuid = 0x00000002;
constexpr unsigned kAtRecursive = 0x8000;

Error mount_error(const std::string& what, const fs::path& path) {
    return make_error("sandbox.mount", what + " " + path.string() + ": " + std::strerror(errno));
}

int mount_setattr(const char* path, unsigned flags, std::uint64_t set, std::uint64_t clear) {
    MountAttr attr{set, clear, 0, 0};
    return static_cast<int>(
        ::syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr));
}

bool directory_at(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool present(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// mkdir -p, for mount points inside a fresh tmpfs.
void make_dirs(const fs::path& path) {
    fs::path current;
    for (const auto& part : path) {
        current /= part;
        ::mkdir(current.c_str(), 0755);
    }
}

Result<void> write_file(const fs::path& path, const std::string& content, mode_t mode) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd) return mount_error("creating", path);
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return mount_error("writing", path);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Result<void> hide(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};  // absent: nothing to hide
    if (S_ISDIR(st.st_mode)) {
        if (::mount("cloakroom-hidden", path.c_str(), "tmpfs",
                    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755") != 0)
            return mount_error("hiding (tmpfs over)", path);
    } else {
        if (::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0)
            return mount_error("hiding (/dev/null over)", path);
    }
    return {};
}

}  // namespace

Result<void> apply_mount_plan(const MountPlan& plan, const RunFiles& files) {
    // Nothing done here may reach the host's mount table.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return mount_error("making private", "/");

    // Where /etc/resolv.conf really is, before /run (where it often points) is replaced.
    char resolved[PATH_MAX] = {};
    const bool have_resolv = ::realpath("/etc/resolv.conf", resolved) != nullptr;

    // The writable directories are opened first: one of them may be under /tmp, which is about
    // to be replaced; the bind then comes from the open directory.
    std::vector<std::pair<fs::path, UniqueFd>> writable;
    for (const auto& path : plan.writable) {
        // A profile's writable path may be a file (~/.claude.json).
        UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
        if (!fd) return mount_error("opening", path);
        writable.emplace_back(path, std::move(fd));
    }
    // The cloakroom binary, opened before /tmp (where it may live) goes.
    UniqueFd self_exe;
    if (!files.helper.empty()) {
        self_exe = UniqueFd(::open(files.helper.c_str(), O_PATH | O_CLOEXEC));
        if (!self_exe) return mount_error("opening", files.helper);
    }
    // The gateway's open-URL socket: opened now for the same reason (a data directory under
    // /tmp). Absent (no gateway listening there): no shims.
    UniqueFd browser_socket;
    if (!files.browser_socket.empty() && self_exe) {
        browser_socket = UniqueFd(::open(files.browser_socket.c_str(), O_PATH | O_CLOEXEC));
    }
    std::vector<fs::path> tmpfs_mounts;
    for (const auto& path : plan.private_tmp) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (::mount("cloakroom-tmp", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
            return mount_error("mounting a private tmpfs on", path);
        tmpfs_mounts.push_back(path);
    }
    for (auto& [path, fd] : writable) {
        struct stat st {};
        if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode))
            make_dirs(path);  // only creates anything inside a fresh tmpfs
        const std::string source = "/proc/self/fd/" + std::to_string(fd.get());
        if (::mount(source.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return mount_error("binding read-write", path);
    }

    // /run: host daemons' sockets (docker.sock, dbus, systemd, nscd, /run/user/<uid>) vanish;
    // only Cloakroom's public files are there.
    if (directory_at(plan.run_dir)) {
        if (::mount("cloakroom-run", plan.run_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                    "mode=0755") != 0)
            return mount_error("mounting a tmpfs on", plan.run_dir);
        make_dirs(kRunFilesDir);
        if (!files.ca_cert.empty()) {
            if (auto w = write_file(kCaCertPath, files.ca_cert, 0644); !w.ok()) return w;
            if (auto w = write_file(kCaBundlePath, files.ca_bundle, 0644); !w.ok()) return w;
        }
        if (self_exe) {
            if (auto w = write_file(kHelperPath, "", 0755); !w.ok()) return w;
            const std::string source = "/proc/self/fd/" + std::to_string(self_exe.get());
            if (::mount(source.c_str(), kHelperPath, nullptr, MS_BIND, nullptr) != 0)
                return mount_error("binding the cloakroom binary on", kHelperPath);
        }
        if (browser_socket) {
            if (auto w = write_file(kBrowserSocketPath, "", 0600); !w.ok()) return w;
            const std::string source = "/proc/self/fd/" + std::to_string(browser_socket.get());
            if (::mount(source.c_str(), kBrowserSocketPath, nullptr, MS_BIND, nullptr) != 0)
                return mount_error("binding the open-URL socket on", kBrowserSocketPath);
            make_dirs(kBrowserShimDir);
            for (const auto& name : browser_shim_names()) {
                const fs::path shim = fs::path(kBrowserShimDir) / name;
                if (auto w = write_file(shim, browser_shim_script(kHelperPath), 0755); !w.ok())
                    return w;
            }
        }
        if (files.resolver && have_resolv) {
            const std::string content =
                "# cloakroom run: answered by the gateway\n"
                "nameserver 127.0.0.1\noptions edns0 trust-ad\n";
            const fs::path target = resolved;
            const fs::path own = fs::path(kRunFilesDir) / "resolv.conf";
            if (auto w = write_file(own, content, 0644); !w.ok()) return w;
            if (target.string().rfind(plan.run_dir.string() + "/", 0) == 0) {
                // A symlink into /run (systemd-resolved's stub): recreate its target.
                make_dirs(target.parent_path());
                if (auto w = write_file(target, content, 0644); !w.ok()) return w;
            } else if (::mount(own.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
                return mount_error("binding resolv.conf over", target);
            }
        }
    }

    for (const auto& path : plan.hidden) {
        if (auto h = hide(path); !h.ok()) return h;
    }
    for (const auto& path : plan.read_only) {
        if (!present(path)) continue;
        if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return mount_error("binding read-only", path);
    }

    // Everything read-only and without set-uid, then the writable places opened again (their
    // own mount only: the read-only binds inside the working directory stay read-only).
    if (mount_setattr("/", AT_RECURSIVE, kAttrRdonly | kAttrNosuid, 0) != 0)
        return mount_error("making read-only (mount_setattr)", "/");
    for (const auto& [path, fd] : writable) {
        if (mount_setattr(path.c_str(), 0, 0, kAttrRdonly) != 0)
            return mount_error("making writable", path);
    }
    for (const auto& path : tmpfs_mounts) {
        if (mount_setattr(path.c_str(), 0, 0, kAttrRdonly) != 0)
            return mount_error("making writable", path);
    }

    // A /proc of the new pid namespace: the gateway and every host process are not in it.
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        return mount_error("mounting a new proc on", "/proc");
    return {};
}

}  // namespace cloakroom::sandbox
