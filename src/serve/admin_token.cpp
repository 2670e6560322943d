#include "serve/admin_token.hpp"

#include <openssl/rand.h>

#include <cerrno>

#include "tls/secure_files.hpp"
#include "util/hex.hpp"

namespace cloakroom::serve {
namespace {

constexpr std::string_view kCode = "admin.token";
constexpr std::size_t kTokenBytes = 32;

Result<std::string> read_token(const std::filesystem::path& path) {
    auto text = tls::read_private_file(path, 1024, std::string(kCode));
    if (!text.ok()) return text.error();
    std::string token = *text;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (!token.starts_with(kAdminTokenPrefix) || token.size() < kAdminTokenPrefix.size() + 32) {
        return make_error(std::string(kCode), path.string() +
                                                  " does not hold an admin token; delete it and "
                                                  "run `cloakroom admin-token` to make a new one");
    }
    return token;
}

}  // namespace

std::filesystem::path admin_token_path(const std::filesystem::path& data_dir) {
    return data_dir / "admin-token";
}

Result<std::string> load_or_create_admin_token(const std::filesystem::path& data_dir) {
    const auto path = admin_token_path(data_dir);
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return read_token(path);
    if (auto made = tls::make_private_dirs(data_dir, std::string(kCode)); !made.ok()) {
        return made.error();
    }
    unsigned char random[kTokenBytes];
    if (RAND_bytes(random, sizeof random) != 1) {
        return make_error(std::string(kCode), "cannot draw random bytes for the admin token");
    }
    const std::string token =
        std::string(kAdminTokenPrefix) +
        hex_encode(std::string_view(reinterpret_cast<const char*>(random), sizeof random));
    // kNoReplace: two processes creating it at once agree on the first one's token.
    if (auto written = tls::write_file_atomic(path, token + "\n", 0600, tls::WriteMode::kNoReplace,
                                              std::string(kCode));
        !written.ok()) {
        if (std::filesystem::exists(path, ec)) return read_token(path);
        return written.error();
    }
    return token;
}

}  // namespace cloakroom::serve
