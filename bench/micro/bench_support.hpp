// Shared helpers for the micro-benchmarks: private temporary directories removed at exit.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace cloakroom::bench {

// A fresh 0700 directory under $TMPDIR (or /tmp), removed with everything in it at destruction.
class TempDir {
  public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                            "/cloakroom-microbench-XXXXXX";
        if (mkdtemp(templ.data()) == nullptr) std::abort();
        path_ = templ;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace cloakroom::bench
