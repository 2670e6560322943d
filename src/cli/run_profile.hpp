// `cloakroom run --profile P` (docs/sandbox.md, "Profiles"): choosing the profile, the hosts the
// session's gateway must let through, the agent's state directories, the start-up summary line.
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "config/model.hpp"
#include "config/profile.hpp"
#include "sandbox/git_credential.hpp"
#include "sandbox/profile_session.hpp"
#include "sandbox/session_scope.hpp"
#include "util/result.hpp"

namespace cloakroom::cli {

// "" = no profile. A name is looked up in the configuration's profiles, then the built-ins; a
// path (with a '/', or ending in .toml) is an agent-creds agent-creds.toml whose [sandbox] name
// is the profile. Errors "usage".
Result<std::optional<config::Profile>> select_profile(const config::Config& config,
                                                      const std::string& option);

// The session scope when a profile names services: --service wins; a profile whose services
// are all unconfigured hosts gets a token limited to those hosts (no credential anywhere).
Result<sandbox::SessionScope> profile_scope(const config::Config& config,
                                            const sandbox::ProfileSession& session);

// Missing writable directories of the profile are created (0700) so the agent can keep its
// state; a missing path whose name has an extension (~/.claude.json) is left out, as a bind
// mount needs something to bind. Returns the paths to make writable.
std::vector<std::filesystem::path> prepare_writable(
    const std::vector<std::filesystem::path>& paths);

// The configuration files a gateway started for the session loads: the user's, plus an
// overlay allowing the profile's extra hosts (removed when the session ends).
class GatewayFiles {
  public:
    GatewayFiles() = default;
    GatewayFiles(const GatewayFiles&) = delete;
    GatewayFiles& operator=(const GatewayFiles&) = delete;
    ~GatewayFiles();

    Result<void> prepare(const GlobalOptions& global, const config::Config& config,
                         const std::string& session, const std::vector<std::string>& extra_hosts);
    const std::vector<std::string>& files() const { return files_; }

  private:
    std::vector<std::string> files_;
    std::filesystem::path overlay_;
};

// The binary as the sandbox sees it for the git helper: netns mode binds it at kHelperPath;
// landlock mode runs it where it is (allowed read-only).
std::string own_binary_path();

void print_profile(std::FILE* out, const config::Profile& profile,
                   const sandbox::ProfileSession& session,
                   const std::vector<std::filesystem::path>& writable, bool gateway_started_here);

void print_git_hosts(std::FILE* out, const std::vector<sandbox::GitHost>& hosts);

}  // namespace cloakroom::cli
