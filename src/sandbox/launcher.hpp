// Starts a command in a netns sandbox (docs/sandbox.md): new user, mount, pid, ipc, uts and
// network namespaces; the sandbox's first process (pid 1 inside) sets up the network, the
// listening sockets and the mounts, then starts the command with no capabilities, under
// seccomp, in its own foreground process group of the caller's terminal, forwards signals
// and exits with the command's status.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/landlock.hpp"
#include "sandbox/mount_plan.hpp"
#include "sandbox/mounts.hpp"
#include "sandbox/net_rules.hpp"
#include "sandbox/net_setup.hpp"
#include "sandbox/seccomp_policy.hpp"
#include "util/result.hpp"

namespace cloakroom::sandbox {

struct LaunchSpec {
    std::vector<std::string> argv;  // argv[0] is looked up in the PATH of `envp`
    std::vector<std::string> envp;  // NAME=value
    MountPlan mounts;
    RunFiles files;
    bool network = true;  // false: loopback only, no listeners, no gateway
    SandboxPorts ports;
    // netns mode: start the callback connector (sandbox/connector.hpp) and hand it to the
    // gateway, for OAuth callbacks into the sandbox (docs/browser.md).
    bool callback_connector = false;
    SeccompOptions seccomp;
    std::string hostname = "cloakroom";
    std::optional<LandlockPolicy> landlock;  // landlock mode (no namespaces)
};

// Receives the sandbox's listening sockets before the command starts (the hand-over to the
// gateway); an error stops the sandbox before the command runs.
using ListenerSink = std::function<Result<void>(std::vector<Listener>)>;

// The command's exit status (128 + signal when a signal ended it). Errors "sandbox.*" for
// anything that went wrong before the command started; a missing kernel feature is named
// ("sandbox.userns": user namespaces unavailable ...).
Result<int> run_in_namespaces(const LaunchSpec& spec, const ListenerSink& sink);

// landlock mode: the command as our child, restricted by spec.landlock and seccomp, in its
// own foreground process group; signals forwarded; no namespaces.
Result<int> run_with_landlock(const LaunchSpec& spec);

// Whether this process may create a user namespace (with the others netns mode needs).
bool namespaces_available();

}  // namespace cloakroom::sandbox
