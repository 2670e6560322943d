#include "tls/certificate_authority.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "tls/ca_files.hpp"
#include "tls/secure_files.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::tls {
namespace {

Error ca_error(const std::string& message) {
    return make_error(kCaErrorCode, message);
}

// lstat, so a dangling symlink counts as present (and is then refused by the loader).
bool exists_no_follow(const std::filesystem::path& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0;
}

}  // namespace

CertificateAuthority::CertificateAuthority(Private, std::filesystem::path dir, X509Ptr cert,
                                           EvpPkeyPtr key, std::string pem, std::int64_t not_after,
                                           bool created)
    : dir_(std::move(dir)),
      cert_path_(dir_ / kCaCertFile),
      key_path_(dir_ / kCaKeyFile),
      cert_(std::move(cert)),
      key_(std::move(key)),
      pem_(std::move(pem)),
      not_after_(not_after),
      created_(created) {}

Result<std::shared_ptr<const CertificateAuthority>> CertificateAuthority::load_or_create(
    const std::filesystem::path& dir) {
    return open(dir, true);
}

Result<std::shared_ptr<const CertificateAuthority>> CertificateAuthority::load(
    const std::filesystem::path& dir) {
    return open(dir, false);
}

Result<std::shared_ptr<const CertificateAuthority>> CertificateAuthority::open(
    const std::filesystem::path& dir, bool may_create) {
    if (dir.empty()) return ca_error("no CA directory configured");
    if (may_create) {
        if (auto made = make_private_dirs(dir, kCaErrorCode); !made) return made.error();
    }
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) {
        return ca_error("cannot open CA directory " + dir.string() + ": " + std::strerror(errno));
    }
    // Two processes starting together (say `cloakroom serve` and `cloakroom env`) must not both
    // create a CA: the lock makes the second one wait and then load what the first created.
    // flock on the directory itself needs no lock file; it is released when dir_fd closes.
    while (::flock(dir_fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            return ca_error("cannot lock CA directory " + dir.string() + ": " +
                            std::strerror(errno));
        }
    }

    const auto cert_path = dir / kCaCertFile;
    const auto key_path = dir / kCaKeyFile;
    const bool have_cert = exists_no_follow(cert_path);
    const bool have_key = exists_no_follow(key_path);
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    bool created = false;
    if (!have_cert && !have_key) {
        if (!may_create)
            return ca_error("no CA in " + dir.string() + " (" + kCaCertFile + " and " + kCaKeyFile +
                            " are missing)");
        if (auto made = create_ca_files(cert_path, key_path, now); !made) return made.error();
        created = true;
    } else if (!have_cert) {
        // Never overwrite a key: clients may trust the certificate that went with it.
        return ca_error(key_path.string() + " exists but " + cert_path.string() +
                        " is missing; restore ca.pem from a backup, or remove ca.key (and "
                        "re-trust the new CA in every client) to create a new CA");
    } else if (!have_key) {
        return ca_error(cert_path.string() + " exists but " + key_path.string() +
                        " is missing; restore ca.key from a backup, or remove ca.pem (and "
                        "re-trust the new CA in every client) to create a new CA");
    }

    auto loaded = load_ca_files(cert_path, key_path, now);
    if (!loaded) return loaded.error();
    return std::make_shared<const CertificateAuthority>(
        Private{}, dir, std::move(loaded->cert), std::move(loaded->key), std::move(loaded->pem),
        loaded->not_after, created);
}

}  // namespace cloakroom::tls
