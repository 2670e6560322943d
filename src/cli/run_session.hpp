// The pieces of `cloakroom run` between the configuration and the launcher: containment mode,
// session token, the sandbox's gateway variables and mount plan, the start-up summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "config/model.hpp"
#include "sandbox/environment.hpp"
#include "sandbox/launcher.hpp"
#include "sandbox/session_scope.hpp"
#include "token/keys.hpp"
#include "util/result.hpp"

namespace cloakroom::cli {

enum class Containment { Netns, Landlock };

struct ContainmentChoice {
    Containment mode = Containment::Netns;
    std::string note;      // what auto chose (and why, for landlock); "" when asked explicitly
    int landlock_abi = 0;  // landlock mode: the kernel's ABI
};

// "auto" | "netns" | "landlock", checked against the kernel. Errors "run.contain" name the
// missing feature; auto falls back from netns to landlock and says so in `note`.
Result<ContainmentChoice> choose_containment(const std::string& requested);

// landlock mode refuses a working directory (or a profile's writable path) that holds a hidden path
// (an allow-list cannot carve it out). Error "sandbox.cwd".
Result<void> check_landlock_cwd(const sandbox::MountPlan& plan);

struct SessionToken {
    std::string text;
    std::string id;  // hex, for the gateway's session registry
};

Result<SessionToken> mint_session_token(const config::Config& config, const token::KeyStore& keys,
                                        const sandbox::SessionScope& scope, std::int64_t now,
                                        std::chrono::seconds lifetime);

// `cloakroom env`'s variables as seen inside the sandbox: the proxy at 127.0.0.1:3128 and the
// CA files in /run/cloakroom.
sandbox::Variables sandbox_gateway_variables(const config::Config& config);

// Cloakroom's own paths, the working directory and $HOME's credential stores; plus a profile's
// hidden and writable paths.
Result<sandbox::MountPlan> plan_session_mounts(
    const config::Config& config, const GlobalOptions& global,
    const std::vector<std::filesystem::path>& extra_hidden = {},
    const std::vector<std::filesystem::path>& extra_writable = {});

std::string default_session_name();

void print_protections(std::FILE* out, const ContainmentChoice& mode,
                       const sandbox::LaunchSpec& spec, const sandbox::SessionScope& scope,
                       const std::vector<std::string>& removed, bool no_network);

}  // namespace cloakroom::cli
