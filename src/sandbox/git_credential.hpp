// git inside `cloakroom run` (docs/sandbox.md, "git"): `cloakroom git-credential` answers git's
// credential-helper protocol with the session token for the configured git hosts, and the
// sandbox's environment wires it in through GIT_CONFIG_COUNT/KEY_n/VALUE_n, so `git push` works
// with no secret in any URL, file or variable. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "sandbox/environment.hpp"

namespace cloakroom::sandbox {

// The variable that carries the session token to the helper inside the sandbox.
inline constexpr const char* kGitTokenVariable = "CLOAKROOM_SESSION_TOKEN";

struct GitHost {
    std::string host;      // as in a URL: "github.com", "git.example.com:8443"
    std::string username;  // what the helper answers with
};

// The session's services that are git hosts (config::git_credential_username), each host once.
std::vector<GitHost> session_git_hosts(const config::Config& config,
                                       const std::vector<std::string>& services);

// GIT_CONFIG_COUNT/KEY_n/VALUE_n after the host's own n entries (`host` holds the caller's
// environment): per git host, an empty credential.https://HOST.helper (dropping the user's
// helpers, which would read hidden stores) then "!'<helper>' git-credential --username '<u>'".
// `helper` is the cloakroom binary as seen inside the sandbox.
Variables git_config_variables(const std::vector<GitHost>& hosts, const std::string& helper,
                               const Variables& host);

// One run of the helper: `action` is get/store/erase, `input` what git wrote on stdin. For
// `get` over https with a token: "username=...\npassword=<token>\n"; everything else: "" (git
// then asks the next helper or fails).
std::string answer_git_credential(std::string_view action, std::string_view input,
                                  std::string_view username, std::string_view token);

}  // namespace cloakroom::sandbox
