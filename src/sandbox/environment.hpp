// The environment of the command run in a sandbox (docs/sandbox.md, "Environment"). Pure: the
// caller supplies the host environment, the gateway variables (`cloakroom env`), the session
// token and the secret values to scrub.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cloakroom::sandbox {

using Variables = std::vector<std::pair<std::string, std::string>>;

struct EnvironmentInputs {
    Variables host;     // the caller's environment, in order
    Variables gateway;  // proxy, CA and base-URL variables; they replace the host's
    std::string token;  // the session token ("" = none)
    std::vector<std::string> token_env;      // variables that receive the token
    std::vector<std::string> secret_values;  // configured secrets' values (never printed)
    std::vector<std::string> secret_env;     // variables named by env: secret references
};

struct Environment {
    Variables variables;               // what the command gets
    std::vector<std::string> removed;  // names dropped (for the start-up summary; no values)
};

// Whether a variable's name says it holds a credential (case-insensitive): *_API_KEY, *_TOKEN,
// *_SECRET, *_PASSWORD, AWS_*, GITHUB_TOKEN, ..., and the host's agent sockets (SSH_AUTH_SOCK,
// DBUS_SESSION_BUS_ADDRESS...) that would reach a daemon outside the sandbox.
bool names_credential(std::string_view name);

// Host variables minus every credential name, every variable whose value contains a secret
// value, and every env: secret source; then the gateway variables; then the token in each
// token_env name. A token_env name is set even when the host had no such variable.
Environment sandbox_environment(const EnvironmentInputs& inputs);

// "NAME=value" strings for execve.
std::vector<std::string> envp_strings(const Variables& variables);

}  // namespace cloakroom::sandbox
