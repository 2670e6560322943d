// What several subcommands share: loading the configuration, the signing keys, and reading a
// token argument without putting it on the command line.
#pragma once

#include <string>
#include <vector>

#include "cli/command.hpp"
#include "config/config.hpp"
#include "token/token.hpp"
#include "util/result.hpp"

namespace cloakroom::cli {

Result<config::Config> load_cli_config(const GlobalOptions& global);

token::TokenFormat token_format(const config::Config& config);

enum class KeyPolicy {
    VerifyOnly,       // whatever exists: MACAROON_SIGNING_KEY and the key directory
    GenerateMissing,  // mint: create the configured signing key on first use (mode 0600)
};

// Loads MACAROON_SIGNING_KEY (key id "primary") and every key in the key directory; warnings
// about key file permissions are printed to stderr (never key material).
Result<token::KeyStore> load_keys(const config::Config& config, KeyPolicy policy);

// A token argument: the token itself, or "-" to read it from stdin (keeps it out of `ps`).
Result<std::string> read_token_argument(const std::string& argument);

// Prints "cloakroom <command>: <message>" to stderr and returns the exit code.
int fail(const std::string& command, const Error& error, int exit_code);

}  // namespace cloakroom::cli
