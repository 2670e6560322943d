// What the command of a sandbox sees of the filesystem (docs/sandbox.md, "Filesystem"), as a
// plan computed without touching the filesystem: the launcher applies it inside the mount
// namespace (mounts.cpp), the Landlock mode turns it into an allow-list (landlock.cpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::sandbox {

struct MountInputs {
    std::filesystem::path home;  // $HOME ("" = none)
    std::filesystem::path cwd;   // absolute, symlinks resolved
    // Cloakroom's own places: config dir, data dir, key dir, CA dir, audit log, secrets dir,
    // every file: secret, the signing key file... (absolute)
    std::vector<std::filesystem::path> cloakroom_paths;
    std::vector<std::filesystem::path> extra_hidden;  // $SSH_AUTH_SOCK, $XDG_RUNTIME_DIR, ...
    // Read-write besides the working directory (a profile's writable_paths: an agent's state).
    // Hidden paths inside them stay hidden.
    std::vector<std::filesystem::path> extra_writable;
};

struct MountPlan {
    // Shown empty: a read-only tmpfs over a directory, /dev/null over anything else. Sorted,
    // without entries inside another entry. Paths that do not exist are skipped when applied.
    std::vector<std::filesystem::path> hidden;
    // The working directory first, then extra_writable (absolute, files or directories).
    std::vector<std::filesystem::path> writable;
    // Inside a writable directory but kept read-only: code that runs later on the host.
    std::vector<std::filesystem::path> read_only;
    // Fresh private tmpfs, writable: /tmp, /var/tmp, /dev/shm.
    std::vector<std::filesystem::path> private_tmp;
    // Replaced by a tmpfs that holds only Cloakroom's public files (CA, resolv.conf): /run,
    // where host daemons keep their sockets (docker.sock, systemd, dbus, nscd, /run/user).
    std::filesystem::path run_dir = "/run";
};

// Credential stores under $HOME that are always hidden (relative to $HOME).
const std::vector<std::string>& home_credential_stores();

// Files and directories of a working directory that run later on the host, kept read-only.
const std::vector<std::string>& host_executed_paths();

// Errors: "sandbox.cwd" when the working directory is, or is inside, a hidden path (the
// command would see an empty directory) or is not absolute; "sandbox.writable" when an extra
// writable path is not absolute or is inside a hidden path.
Result<MountPlan> plan_mounts(const MountInputs& inputs);

}  // namespace cloakroom::sandbox
