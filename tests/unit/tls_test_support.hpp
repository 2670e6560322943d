// Helpers shared by the tls unit tests: private temp directories, exact-mode files, and
// certificate checks done with plain OpenSSL (independent of the code under test).
#pragma once

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/openssl_ptr.hpp"

namespace cloakroom::tls::testing_support {

class TempDir {
  public:
    TempDir() {
        std::string templ =
            (std::filesystem::temp_directory_path() / "cloakroom-tls-XXXXXX").string();
        const char* made = ::mkdtemp(templ.data());
        EXPECT_NE(made, nullptr);
        path_ = templ;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, std::string_view content,
                       mode_t mode = 0600) {
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    ::chmod(path.c_str(), mode);
}

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline mode_t file_mode(const std::filesystem::path& path) {
    struct stat info {};
    EXPECT_EQ(::lstat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
}

// Every certificate in a PEM file, in order.
inline std::vector<X509Ptr> read_certs(const std::filesystem::path& path) {
    std::vector<X509Ptr> certs;
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) return certs;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        certs.emplace_back(cert);
    }
    ERR_clear_error();
    return certs;
}

struct VerifyTarget {
    std::optional<std::string> host;
    std::optional<std::string> ip;
    std::optional<std::int64_t> at;  // verification time, Unix seconds
};

// X509_verify_cert of `leaf` against `ca` alone, in X509_STRICT mode (what Python 3.13 uses).
// Returns the X509_V_* result.
inline int verify_leaf(X509* ca, X509* leaf, const VerifyTarget& target) {
    X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca);
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (target.host) X509_VERIFY_PARAM_set1_host(param, target.host->c_str(), 0);
    if (target.ip) X509_VERIFY_PARAM_set1_ip_asc(param, target.ip->c_str());
    if (target.at) X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(*target.at));
    const int ok = X509_verify_cert(ctx.get());
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return ok == 1 ? X509_V_OK : error;
}

}  // namespace cloakroom::tls::testing_support
