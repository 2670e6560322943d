// File operations the CA needs to be safe on disk: owner-only directories, a private key that
// is refused when others could read it, and atomic writes so a crash never leaves half a file.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::tls {

// Creates `dir` and any missing parents with mode 0700. Existing directories are left as they
// are (tightening a shared parent such as $HOME would be surprising).
Result<void> make_private_dirs(const std::filesystem::path& dir, const std::string& code);

// Reads a regular file of at most `limit` bytes.
Result<std::string> read_small_file(const std::filesystem::path& path, std::size_t limit,
                                    const std::string& code);

// Like read_small_file, but the file must not be a symlink and must not be accessible by group
// or others (the error says which chmod fixes it). The caller cleanses the returned text.
Result<std::string> read_private_file(const std::filesystem::path& path, std::size_t limit,
                                      const std::string& code);

enum class WriteMode { kReplace, kNoReplace };

// Writes `content` to a fresh temporary file beside `path` (O_CREAT|O_EXCL, `mode`), syncs it and
// moves it into place: rename() for kReplace, link() for kNoReplace, which fails with a clear
// error instead of overwriting an existing file. Readers see the old file or the whole new one.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                               mode_t mode, WriteMode write_mode, const std::string& code);

}  // namespace cloakroom::tls
