#include "cli/agent_files.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tls/ca_bundle.hpp"
#include "tls/secure_files.hpp"

namespace cloakroom::cli {
namespace {

constexpr const char* kCode = "env.public";

Error public_error(const std::filesystem::path& dir, const std::string& what) {
    return make_error(kCode, "public directory " + dir.string() + ": " + what);
}

// `dir` exists as a real directory of ours with mode 0755 (umask-proof).
Result<void> ensure_public_dir(const std::filesystem::path& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return public_error(dir, std::strerror(errno));
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return public_error(dir, std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return public_error(dir, "not a directory (or a symbolic link)");
    if (st.st_uid != ::geteuid()) return public_error(dir, "owned by another user");
    if ((st.st_mode & 07777) != 0755 && ::chmod(dir.c_str(), 0755) != 0) {
        return public_error(dir, std::strerror(errno));
    }
    return {};
}

// Lets other users pass through (not list) `dir`: what reaching <data_dir>/public needs.
Result<void> make_searchable(const std::filesystem::path& dir) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return public_error(dir, std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return public_error(dir, "not a directory");
    const mode_t mode = st.st_mode & 07777;
    if ((mode & 0011) == 0011 || st.st_uid != ::geteuid()) return {};
    if (::chmod(dir.c_str(), mode | 0011) != 0) return public_error(dir, std::strerror(errno));
    return {};
}

// Whether `path` is a regular file of ours, mode 0644, holding exactly `content`.
bool same_public_file(const std::filesystem::path& path, const std::string& content) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        (st.st_mode & 07777) != 0644 || static_cast<std::size_t>(st.st_size) != content.size()) {
        return false;
    }
    auto existing = tls::read_small_file(path, content.size(), kCode);
    return existing.ok() && *existing == content;
}

}  // namespace

std::optional<proxy::AgentFiles> current_agent_files(const config::Config& config) {
    const std::filesystem::path& dir = config.gateway.public_dir;
    if (dir.empty()) return std::nullopt;
    const auto cert_path = config.data_dir / "ca" / tls::kCaCertFile;
    auto cert = tls::read_small_file(cert_path, 1 << 20, kCode);
    if (!cert.ok() || cert->empty()) return std::nullopt;
    const auto ca_copy = dir / "ca.pem";
    const auto bundle = dir / "bundle.pem";
    if (!same_public_file(ca_copy, *cert)) return std::nullopt;
    const auto roots = tls::find_system_roots(bundle);
    if (!roots || !tls::bundle_is_current(cert_path, *cert, bundle, *roots)) return std::nullopt;
    return proxy::AgentFiles{bundle.string(), ca_copy.string()};
}

Result<proxy::AgentFiles> write_agent_files(const config::Config& config,
                                            const tls::CertificateAuthority& authority) {
    const std::filesystem::path& dir = config.gateway.public_dir;
    if (dir.empty()) return make_error(kCode, "no [gateway] public_dir");
    if (dir.parent_path() == config.data_dir) {
        if (auto made = tls::make_private_dirs(config.data_dir, kCode); !made.ok()) {
            return made.error();
        }
        if (auto searchable = make_searchable(config.data_dir); !searchable.ok()) {
            return searchable.error();
        }
    }
    if (auto ensured = ensure_public_dir(dir); !ensured.ok()) return ensured.error();

    auto cert = tls::read_small_file(authority.cert_path(), 1 << 20, kCode);
    if (!cert.ok()) return cert.error();
    const auto ca_copy = dir / "ca.pem";
    // Every `cloakroom run` and `cloakroom env` comes here: a copy that is already right stays.
    if (!same_public_file(ca_copy, *cert)) {
        if (auto wrote =
                tls::write_file_atomic(ca_copy, *cert, 0644, tls::WriteMode::kReplace, kCode);
            !wrote.ok()) {
            return wrote.error();
        }
    }
    auto bundle = tls::write_ca_bundle(authority, dir / "bundle.pem");
    if (!bundle.ok()) return bundle.error();
    return proxy::AgentFiles{bundle->string(), ca_copy.string()};
}

}  // namespace cloakroom::cli
