// Named `cloakroom run` sessions on this machine: <data_dir>/run/sessions/<name>.pid holds the
// pid of the `cloakroom run` process, so `cloakroom stop NAME` can signal it (it forwards the
// signal to the sandbox's command).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "util/result.hpp"

namespace cloakroom::cli {

class SessionPidFile {
  public:
    SessionPidFile() = default;
    SessionPidFile(const SessionPidFile&) = delete;
    SessionPidFile& operator=(const SessionPidFile&) = delete;
    ~SessionPidFile();

    // Errors "run.name": a live session already has that name, or the name is not a plain
    // file name (letters, digits, '.', '-', '_'). `profile` (the --profile name, or "") goes on
    // the file's second line for `cloakroom ps`.
    Result<void> claim(const std::filesystem::path& data_dir, const std::string& name,
                       const std::string& profile = "");

  private:
    std::filesystem::path path_;
};

// The profile a live session was started with ("" = none or unknown).
std::string session_profile(const std::filesystem::path& data_dir, const std::string& name);

// The pid of a live session, or an error "stop.name" naming the sessions there are.
Result<pid_t> session_pid(const std::filesystem::path& data_dir, const std::string& name);

}  // namespace cloakroom::cli
