// The admin API's bearer token: `<data_dir>/admin-token`, created mode 0600 on first use (by
// `cloakroom serve` or `cloakroom admin-token`) and read back afterwards. Whoever can read the
// file can use the admin API (revoke, reload), exactly like whoever can read the signing keys
// next to it can mint tokens (docs/operations.md, "Admin API").
#pragma once

#include <filesystem>
#include <string>

#include "util/result.hpp"

namespace cloakroom::serve {

inline constexpr std::string_view kAdminTokenPrefix = "cladm_";

std::filesystem::path admin_token_path(const std::filesystem::path& data_dir);

// The token, creating it (and the data directory, 0700) when absent. A file readable by group or
// others, or a symlink, is refused. Error code "admin.token".
Result<std::string> load_or_create_admin_token(const std::filesystem::path& data_dir);

}  // namespace cloakroom::serve
