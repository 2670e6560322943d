// Runs a secret command (no shell) and captures its stdout. stdin is /dev/null; stderr goes to
// /dev/null because a failing helper often prints what it was handling, which may be the secret,
// and nothing here may log it. The child runs in its own process group so a timeout or an
// oversized output kills the helper and anything it started.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/secret_buffer.hpp"
#include "util/result.hpp"

namespace cloakroom::secrets {

// `argv` must already be validated (validate_exec_argv). Returns raw stdout, before value rules.
// Errors: "secret.exec" (cannot start, timed out, non-zero exit, killed by a signal),
// "secret.invalid" (more than kMaxSecretBytes of output), "secret.io" (pipe/poll failures).
Result<SecretBuffer> run_secret_command(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout, std::string_view source);

}  // namespace cloakroom::secrets
