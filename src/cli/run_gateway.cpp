#include "cli/run_gateway.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
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

Result<void> SessionGateway::start_serve(const std::vector<std::string>& config_files,
                                         const std::filesystem::path& log_file) {
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
    return {};
}

bool SessionGateway::serve_exited() {
    int status = 0;
    if (started_ > 0 && ::waitpid(started_, &status, WNOHANG) == started_) {
        started_ = -1;
        return true;
    }
    return false;
}

Result<void> SessionGateway::connect(const std::filesystem::path& socket_path,
                                     const std::vector<std::string>& config_files,
                                     const std::filesystem::path& log_file) {
    auto existing = sandbox::connect_handover(socket_path);
    if (existing.ok()) {
        connection_ = std::move(*existing);
        return {};
    }
    if (auto started = start_serve(config_files, log_file); !started.ok()) return started;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        auto connected = sandbox::connect_handover(socket_path);
        if (connected.ok()) {
            connection_ = std::move(*connected);
            return {};
        }
        if (serve_exited()) {
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

namespace {

bool accepts_tcp(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
        return false;
    bool ok = false;
    for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0));
        ok = fd && ::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0;
    }
    ::freeaddrinfo(found);
    return ok;
}

}  // namespace

Result<void> SessionGateway::ensure_listening(const std::string& host, std::uint16_t port,
                                              const std::vector<std::string>& config_files,
                                              const std::filesystem::path& log_file) {
    if (accepts_tcp(host, port)) return {};
    if (auto started = start_serve(config_files, log_file); !started.ok()) return started;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        if (accepts_tcp(host, port)) return {};
        if (serve_exited()) {
            return make_error("run.gateway", "the gateway started for this session exited (see " +
                                                 log_file.string() + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return make_error("run.gateway", "the gateway started for this session is not listening on " +
                                         host + ":" + std::to_string(port) + " after 15 s");
}

}  // namespace cloakroom::cli
