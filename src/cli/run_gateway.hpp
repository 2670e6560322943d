// The gateway a `cloakroom run` session uses: the running `cloakroom serve` (found through its
// hand-over socket), or one started for the session and stopped when it ends.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::cli {

class SessionGateway {
  public:
    SessionGateway() = default;
    SessionGateway(const SessionGateway&) = delete;
    SessionGateway& operator=(const SessionGateway&) = delete;
    ~SessionGateway();  // stops a gateway we started

    // Connects to the hand-over socket; when nobody listens there, starts `cloakroom serve`
    // with the same configuration files and waits (up to 15 s) for its socket.
    Result<void> connect(const std::filesystem::path& socket_path,
                         const std::vector<std::string>& config_files,
                         const std::filesystem::path& log_file);

    // landlock mode (no hand-over): waits until something accepts TCP on host:port, starting
    // `cloakroom serve` when nothing does.
    Result<void> ensure_listening(const std::string& host, std::uint16_t port,
                                  const std::vector<std::string>& config_files,
                                  const std::filesystem::path& log_file);

    int connection() const { return connection_.get(); }
    bool started_here() const { return started_ > 0; }

  private:
    Result<void> start_serve(const std::vector<std::string>& config_files,
                             const std::filesystem::path& log_file);
    bool serve_exited();

    UniqueFd connection_;
    pid_t started_ = -1;
};

}  // namespace cloakroom::cli
