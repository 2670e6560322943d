// Turns a SecretRef into a SecretValue. Every resolve() reads the source afresh: there is no
// cache, so rotating a secret (rewrite the file, update the helper) needs no reload, and a value
// lives in memory only as long as the caller holds it.
//
// Providers:
//   file     <file_root>/<ID>                  dir 0700, file 0600, regular file, no symlinks
//   systemd  $CREDENTIALS_DIRECTORY/<ID>       same file rules; read-only 0500/0400 expected
//   env      getenv(NAME)
//   exec     argv run without a shell, stdout is the value, killed after exec_timeout
// Value rules (all providers): one trailing "\n" or "\r\n" stripped; then non-empty, no NUL/CR/LF,
// valid UTF-8; at most 64 KiB.
//
// Error codes: "secret.ref" (reference itself invalid), "secret.missing" (no such file/variable),
// "secret.unsafe" (symlink, non-regular file), "secret.invalid" (value rules, size cap),
// "secret.exec" (helper failed/timed out), "secret.io" (other system errors).
// No error or warning ever contains the value or any part of it.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/secret_ref.hpp"
#include "secrets/secret_value.hpp"
#include "util/result.hpp"

namespace cloakroom::secrets {

struct SecretSources {
    std::filesystem::path file_root;  // directory of the file provider
    // systemd credentials directory; when unset, taken from $CREDENTIALS_DIRECTORY at
    // SecretResolver construction.
    std::optional<std::filesystem::path> credentials_directory;
    std::chrono::milliseconds exec_timeout{5000};
};

// Emitted (not fatal) when a secret directory or file is readable or writable by group/other.
struct SecretWarning {
    std::string code;  // "unsafe_permissions"
    std::string path;
    unsigned actual_mode = 0;    // permission bits, e.g. 0755
    unsigned expected_mode = 0;  // e.g. 0700
    std::string message;
};

// Outcome of checking one reference; never carries the value.
struct SecretStatus {
    // Unscoped so callers can write SecretStatus::Ok or SecretStatus::Status::Ok.
    enum Status { Ok, Missing, UnsafePermissions, Invalid, Error };

    SecretRef ref;
    Status status = Ok;
    std::string detail;      // error message, or the warning messages joined by "; "; empty when Ok
    std::string error_code;  // the Error code when the status comes from an error
    std::vector<SecretWarning> warnings;  // structured form of UnsafePermissions
};

// "ok", "missing", "unsafe_permissions", "invalid", "error".
std::string_view to_string(SecretStatus::Status status);

class SecretResolver {
  public:
    explicit SecretResolver(SecretSources sources);

    // Reads the secret now. Warnings (if `warnings` is given) are appended even when
    // resolution then fails; they never block it.
    Result<SecretValue> resolve(const SecretRef& ref,
                                std::vector<SecretWarning>* warnings = nullptr) const;

    // Resolves each reference and discards (wipes) the value at once: for `cloakroom secrets
    // check` and startup validation. Status precedence: an error maps to Missing / Invalid /
    // Error; a resolved secret with warnings is UnsafePermissions; otherwise Ok.
    std::vector<SecretStatus> check(const std::vector<SecretRef>& refs) const;

    const SecretSources& sources() const { return sources_; }

  private:
    SecretSources sources_;
};

}  // namespace cloakroom::secrets
