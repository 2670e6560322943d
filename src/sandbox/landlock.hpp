// The Landlock mode of `cloakroom run` (docs/sandbox.md, "landlock mode"): for kernels where
// user namespaces are unavailable. A filesystem allow-list, TCP connect only to listed ports,
// TCP bind refused, and (ABI >= 6) abstract unix sockets and signals scoped to the sandbox.
// Landlock filters ports, not addresses: any host's port 3128 is reachable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::sandbox {

// The kernel's Landlock ABI version; errors "sandbox.landlock" say why there is none.
Result<int> landlock_abi();

struct LandlockPolicy {
    std::vector<std::filesystem::path> read_only;   // read and execute
    std::vector<std::filesystem::path> read_write;  // everything but device nodes
    std::vector<std::filesystem::path> devices;     // read/write of existing files (/dev)
    std::vector<std::uint16_t> connect_ports;       // TCP connect allowed to these ports only
};

// The minimum ABI the mode needs (TCP port rules: 4, Linux 6.7) and the one that scopes
// abstract unix sockets and signals (6, Linux 6.12).
inline constexpr int kLandlockMinimumAbi = 4;
inline constexpr int kLandlockScopeAbi = 6;

// The default allow-list: system directories read-only, /dev, the working directory and the
// session's private temporary directory read-write, the CA's public directory read-only.
LandlockPolicy default_landlock_policy(const std::filesystem::path& cwd,
                                       const std::filesystem::path& private_tmp,
                                       const std::filesystem::path& public_dir,
                                       std::vector<std::uint16_t> ports);

// Restricts the calling thread (and what it execs). Paths that do not exist are skipped.
// Errors "sandbox.landlock".
Result<void> apply_landlock(const LandlockPolicy& policy);

}  // namespace cloakroom::sandbox
