// Validation shared by the reference parser and the resolver. The resolver re-checks every
// reference it is handed because SecretRef is a plain struct: code can build one without going
// through parse_secret_ref, and "../x" must never reach openat().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "secrets/secret_ref.hpp"
#include "util/result.hpp"

namespace cloakroom::secrets {

// File and systemd IDs: [A-Za-z0-9._-]+, not "." or "..", so an ID can only name a direct child
// of its root directory.
Result<void> validate_secret_id(std::string_view provider, std::string_view id);

// Environment variable names: [A-Za-z_][A-Za-z0-9_]*.
Result<void> validate_env_name(std::string_view name);

// Splits an exec command line on ASCII whitespace (no quoting, no shell) and checks the program
// is an absolute path or a bare name for PATH lookup.
Result<std::vector<std::string>> split_exec_command(std::string_view command);

// Checks an already split argv (refs built by hand may carry argv directly).
Result<void> validate_exec_argv(const std::vector<std::string>& argv);

std::string_view provider_name(Provider provider);

}  // namespace cloakroom::secrets
