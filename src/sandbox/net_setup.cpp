#include "sandbox/net_setup.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "sandbox/capabilities.hpp"

namespace cloakroom::sandbox {
namespace {

Error net_error(const std::string& what) {
    return make_error("sandbox.net", what + ": " + std::strerror(errno));
}

std::string find_tool(const char* name) {
    for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
        std::string path = std::string(dir) + name;
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return {};
}

// Runs `tool args...` with `input` on its stdin; its output is returned on failure.
Result<void> run_tool(const char* tool, const char* package, std::vector<std::string> args,
                      const std::string& input) {
    const std::string path = find_tool(tool);
    if (path.empty()) {
        return make_error("sandbox.net", std::string(tool) +
                                             " not found (install the Debian "
                                             "package " +
                                             package + ")");
    }
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return net_error("pipe");
    const pid_t pid = ::fork();
    if (pid < 0) return net_error("fork");
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(out[1], 2);
        if (!keep_net_admin_across_exec().ok()) ::_exit(126);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(path.c_str()));
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        char* envp[] = {nullptr};
        ::execve(path.c_str(), argv.data(), envp);
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    std::size_t done = 0;
    while (done < input.size()) {
        const ssize_t n = ::write(in[1], input.data() + done, input.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    ::close(in[1]);
    std::string output;
    std::array<char, 1024> buffer{};
    for (;;) {
        const ssize_t n = ::read(out[0], buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (output.size() < 4096) output.append(buffer.data(), static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (!output.empty() && (output.back() == '\n' || output.back() == ' '))
            output.pop_back();
        return make_error("sandbox.net", std::string(tool) +
                                             " failed inside the sandbox's "
                                             "network namespace: " +
                                             output);
    }
    return {};
}

Result<UniqueFd> listen_on(int family, int type, const char* address, std::uint16_t port) {
    UniqueFd fd(::socket(family, type | SOCK_CLOEXEC, 0));
    if (!fd) return net_error("socket");
    const int one = 1;
    if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        ::inet_pton(AF_INET, address, &sin->sin_addr);
        length = sizeof(sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        ::inet_pton(AF_INET6, address, &sin6->sin6_addr);
        length = sizeof(sockaddr_in6);
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0)
        return net_error(std::string("bind ") + address + ":" + std::to_string(port));
    if (type == SOCK_STREAM && ::listen(fd.get(), 1024) != 0) return net_error("listen");
    return fd;
}

}  // namespace

Result<void> loopback_only() {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return net_error("socket");
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(fd.get(), SIOCGIFFLAGS, &request) != 0) return net_error("SIOCGIFFLAGS lo");
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    if (::ioctl(fd.get(), SIOCSIFFLAGS, &request) != 0) return net_error("SIOCSIFFLAGS lo");
    return {};
}

Result<void> configure_network(const SandboxPorts& ports) {
    if (auto ip = run_tool("ip", "iproute2", {"-batch", "-"}, ip_batch()); !ip.ok()) return ip;
    return run_tool("nft", "nftables", {"-f", "-"}, nft_ruleset(ports));
}

Result<std::vector<Listener>> open_listeners(const SandboxPorts& ports) {
    std::vector<Listener> listeners;
    struct Spec {
        const char* kind;
        int family;
        int type;
        const char* address;
        std::uint16_t port;
    };
    for (const Spec& spec :
         {Spec{"forward", AF_INET, SOCK_STREAM, "127.0.0.1", ports.forward},
          Spec{"transparent", AF_INET, SOCK_STREAM, "127.0.0.1", ports.transparent},
          Spec{"transparent", AF_INET6, SOCK_STREAM, "::1", ports.transparent},
          Spec{"dns", AF_INET, SOCK_DGRAM, "127.0.0.1", ports.dns}}) {
        auto fd = listen_on(spec.family, spec.type, spec.address, spec.port);
        if (!fd.ok()) return fd.error();
        listeners.push_back(Listener{spec.kind, std::move(*fd)});
    }
    if (ports.cdp != 0) {
        for (const Spec& spec : {Spec{"cdp", AF_INET, SOCK_STREAM, "127.0.0.1", ports.cdp},
                                 Spec{"cdp", AF_INET6, SOCK_STREAM, "::1", ports.cdp}}) {
            auto fd = listen_on(spec.family, spec.type, spec.address, spec.port);
            if (!fd.ok()) return fd.error();
            listeners.push_back(Listener{spec.kind, std::move(*fd)});
        }
    }
    for (const auto& db : ports.databases) {
        auto fd = listen_on(db.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, db.host.c_str(), db.port);
        if (!fd.ok()) return fd.error();
        listeners.push_back(Listener{"database:" + db.name, std::move(*fd)});
    }
    return listeners;
}

}  // namespace cloakroom::sandbox
