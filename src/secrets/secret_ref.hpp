// A reference to a secret, as written in configuration. Parsing is pure; resolving is I/O
// (see resolver.hpp).
//   "file:ID"        file provider, ID in [A-Za-z0-9._-]+, a direct child of the secret root
//   "env:NAME"       environment variable
//   "exec:CMD ARGS"  command run without a shell (argv split on whitespace), stdout is the value
//   "systemd:ID"     file under $CREDENTIALS_DIRECTORY (systemd LoadCredential=), same file rules
// agent-creds' table form { provider = "env", name = "X" } maps onto the same struct.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::secrets {

enum class Provider { File, Env, Exec, Systemd };

struct SecretRef {
    Provider provider = Provider::File;
    std::string name;               // file/systemd ID, env var name, or the exec command line
    std::vector<std::string> argv;  // exec only
    std::string text() const;       // the reference as written, e.g. "env:STRIPE_KEY" (no value)
    bool operator==(const SecretRef&) const = default;
};

// Errors: code "secret.ref" with a message naming what is wrong.
Result<SecretRef> parse_secret_ref(std::string_view text);
Result<SecretRef> make_secret_ref(std::string_view provider, std::string_view name);

}  // namespace cloakroom::secrets
