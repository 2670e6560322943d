// Applies a MountPlan inside a new mount namespace (the sandbox's first process, which holds
// CAP_SYS_ADMIN over it). docs/sandbox.md, "Filesystem".
#pragma once

#include <filesystem>
#include <string>

#include "sandbox/mount_plan.hpp"
#include "util/result.hpp"

namespace cloakroom::sandbox {

// What the sandbox's private /run/cloakroom holds (public material only).
struct RunFiles {
    std::string ca_cert;    // Cloakroom's CA certificate (PEM)
    std::string ca_bundle;  // system roots + the CA (PEM)
    bool resolver = true;   // /etc/resolv.conf -> nameserver 127.0.0.1
    // The cloakroom binary (its path on the host; "" = none) shown at kHelperPath, for
    // `git-credential` (git_credential.hpp): its own path may be hidden (under /tmp, in a
    // hidden directory). Opened by path inside the new mount namespace: a bind mount cannot
    // come from /proc/self/exe, whose mount belongs to the caller's namespace.
    std::filesystem::path helper;
    // The gateway's open-URL socket (host path; "" = none), bound at kBrowserSocketPath, and the
    // opener shims written into kBrowserShimDir (browser_shims.hpp). Needs `helper`.
    std::filesystem::path browser_socket;
};

inline constexpr const char* kRunFilesDir = "/run/cloakroom";
inline constexpr const char* kCaCertPath = "/run/cloakroom/ca.pem";
inline constexpr const char* kCaBundlePath = "/run/cloakroom/ca-bundle.pem";
inline constexpr const char* kHelperPath = "/run/cloakroom/cloakroom";

// Errors "sandbox.mount" naming the path and the call. Must run in the new pid namespace too
// (mounts a fresh /proc).
Result<void> apply_mount_plan(const MountPlan& plan, const RunFiles& files);

}  // namespace cloakroom::sandbox
