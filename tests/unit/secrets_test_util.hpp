// Helpers shared by the secrets unit tests: a private temp directory and file writers that set
// exact modes (the umask would otherwise decide them).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "secrets/secret_ref.hpp"

namespace cloakroom::secrets::testing_support {

class TempDir {
  public:
    TempDir() {
        std::string templ = ::testing::TempDir() + "cloakroom-secrets-XXXXXX";
        char* made = ::mkdtemp(templ.data());
        EXPECT_NE(made, nullptr);
        path_ = templ;
        ::chmod(path_.c_str(), 0700);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

    // Writes `content` to a direct child and sets its mode.
    std::filesystem::path write(std::string_view name, std::string_view content,
                                mode_t mode = 0600) const {
        const auto file = path_ / name;
        {
            std::ofstream out(file, std::ios::binary | std::ios::trunc);
            out.write(content.data(), static_cast<std::streamsize>(content.size()));
        }
        ::chmod(file.c_str(), mode);
        return file;
    }

    void chmod_root(mode_t mode) const { ::chmod(path_.c_str(), mode); }

  private:
    std::filesystem::path path_;
};

// Sets an environment variable for the scope of a test.
class ScopedEnv {
  public:
    ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = std::string(old);
        if (value != nullptr) {
            ::setenv(name_.c_str(), value, 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        if (old_) {
            ::setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }

  private:
    std::string name_;
    std::optional<std::string> old_;
};

inline SecretRef file_ref(std::string id) {
    return SecretRef{Provider::File, std::move(id), {}};
}

// Sets an explicit mtime, so two writes in one clock tick still differ (or deliberately match).
inline void set_mtime(const std::filesystem::path& path, long seconds) {
    const struct timespec times[2] = {{seconds, 0}, {seconds, 123}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

// Rewrites an existing file in place (same inode): truncate, then write.
inline void rewrite_in_place(const std::filesystem::path& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

}  // namespace cloakroom::secrets::testing_support
