#include "cli/run_gateway.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "sandbox/gateway_link.hpp"

namespace cloakroom::cli {

SessionGateway::~SessionGateway() {
    connection_.reset();
    if (started_ > 0) {
        ::kill(started_, SIGTERM);
        int status = 0;
        while (::waitpid(started_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

Result<void> SessionGateway::connect(const std::filesystem::path& socket_path,
                                     const std::vector<std::string>& config_files,
                                     const std::filesystem::path& log_file) {
    auto existing = sandbox::connect_handover(socket_path);
    if (existing.ok()) {
        connection_ = std::move(*existing);
        return {};
    }
    std::vector<std::string> args = {"cloakroom", "serve"};
    for (const auto& file : config_files) {
        args.push_back("--config");
        args.push_back(file);
    }
    std::error_code ignored;
    std::filesystem::create_directories(log_file.parent_path(), ignored);
    const pid_t pid = ::fork();
    if (pid < 0) return make_error("run.gateway", std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Its own process group: the terminal's Ctrl-C belongs to the command, not to it.
        ::setpgid(0, 0);
        const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) ::dup2(null, 0);
        if (log >= 0) {
            ::dup2(log, 1);
            ::dup2(log, 2);
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    started_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        auto connected = sandbox::connect_handover(socket_path);
        if (connected.ok()) {
            connection_ = std::move(*connected);
            return {};
        }
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            started_ = -1;
            return make_error("run.gateway", "the gateway started for this session exited (see " +
                                                 log_file.string() + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return make_error("run.gateway",
                      "the gateway started for this session did not open its "
                      "hand-over socket " +
                          socket_path.string() + " within 15 s (see " + log_file.string() + ")");
}

}  // namespace cloakroom::cli
