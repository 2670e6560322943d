// Reads one secret file that is a direct child of a root directory (the file provider's secret
// root, or systemd's $CREDENTIALS_DIRECTORY). Race-safe against a file being swapped for a
// symlink or FIFO between the check and the open: the directory is opened once, the file is
// lstat'ed and opened relative to it with O_NOFOLLOW|O_NONBLOCK, and the opened fd must be the
// same regular file (dev/ino) that was checked.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "secrets/resolver.hpp"
#include "secrets/secret_buffer.hpp"
#include "util/result.hpp"

namespace cloakroom::secrets {

struct FileRules {
    // Modes named in the warning when group/other bits are set. Only group/other bits trigger a
    // warning: a read-only owner mode (systemd's 0500/0400) is stricter, not unsafe.
    unsigned expected_dir_mode = 0700;
    unsigned expected_file_mode = 0600;
    std::string_view root_label = "secret directory";  // for messages
};

// What a successful read saw: the root directory's fstat and the opened file's fstat (taken
// before the bytes were read). SecretResolver's cache keys its entries on these.
struct FileIdentity {
    struct stat dir {};
    struct stat file {};
};

// `id` must already be validated (validate_secret_id). Returns the raw bytes, before value rules.
// `identity`, when given, is filled on success.
Result<SecretBuffer> read_secret_file(const std::filesystem::path& root, std::string_view id,
                                      const FileRules& rules, std::string_view source,
                                      std::vector<SecretWarning>* warnings,
                                      FileIdentity* identity = nullptr);

}  // namespace cloakroom::secrets
