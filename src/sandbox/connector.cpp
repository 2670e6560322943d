#include "sandbox/connector.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "sandbox/fd_passing.hpp"
#include "sandbox/net_rules.hpp"

namespace cloakroom::sandbox {
namespace {

constexpr int kConnectTimeoutMs = 3000;

// A non-blocking connect to the sandbox's own loopback, marked so nftables lets it through;
// the socket when a listener took it, else the errno.
Result<UniqueFd> connect_loopback(std::uint16_t port, bool ipv6) {
    UniqueFd fd(::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return make_error("connect", std::strerror(errno));
    const std::uint32_t mark = kConnectorMark;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
        return make_error("connect", std::string("SO_MARK: ") + std::strerror(errno));
    }
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (ipv6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_addr = in6addr_loopback;
        length = sizeof(sockaddr_in6);
    } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof(sockaddr_in);
    }
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
        if (errno != EINPROGRESS) return make_error("connect", std::strerror(errno));
        pollfd wait{fd.get(), POLLOUT, 0};
        int ready = 0;
        do {
            ready = ::poll(&wait, 1, kConnectTimeoutMs);
        } while (ready < 0 && errno == EINTR);
        if (ready == 0) return make_error("connect", "timed out");
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) return make_error("connect", std::strerror(error));
    }
    return fd;
}

std::string answer_for(const std::string& text, const std::vector<std::uint16_t>& refused,
                       UniqueFd& connected) {
    auto request = parse_connect_request(text);
    if (!request) return "refused: malformed request";
    if (std::find(refused.begin(), refused.end(), request->port) != refused.end()) {
        return "refused: port " + std::to_string(request->port) +
               " is one of the sandbox's gateway listeners";
    }
    std::string why;
    for (const bool ipv6 : {request->ipv6_first, !request->ipv6_first}) {
        auto fd = connect_loopback(request->port, ipv6);
        if (fd.ok()) {
            connected = std::move(*fd);
            return "ok";
        }
        if (why.empty()) why = fd.error().message;
    }
    return "refused: nothing in the sandbox listens on port " + std::to_string(request->port) +
           " (" + why + ")";
}

[[noreturn]] void serve(int socket, const std::vector<std::uint16_t>& refused) {
    for (;;) {
        auto message = receive_message(socket);
        if (!message.ok()) ::_exit(0);
        if (message->text.empty() && message->fds.empty()) ::_exit(0);  // the gateway is gone
        if (message->fds.size() != 1) continue;
        UniqueFd connected;
        const std::string answer = answer_for(message->text, refused, connected);
        std::vector<int> fds;
        if (connected) fds.push_back(connected.get());
        (void)send_message(message->fds[0].get(), answer, fds);
    }
}

}  // namespace

std::optional<ConnectRequest> parse_connect_request(std::string_view text) {
    constexpr std::string_view kPrefix = "connect ";
    if (!text.starts_with(kPrefix)) return std::nullopt;
    text.remove_prefix(kPrefix.size());
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string_view digits = text.substr(0, space);
    const std::string_view family = text.substr(space + 1);
    if (digits.empty() || digits.size() > 5 || digits[0] == '0') return std::nullopt;
    unsigned long port = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port > 65535) return std::nullopt;
    if (family != "4" && family != "6") return std::nullopt;
    return ConnectRequest{static_cast<std::uint16_t>(port), family == "6"};
}

Result<UniqueFd> start_connector(std::vector<std::uint16_t> refused_ports,
                                 const std::vector<int>& close_in_child) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        return make_error("sandbox.connector", std::string("socketpair: ") + std::strerror(errno));
    }
    UniqueFd gateway_end(pair[0]);
    UniqueFd connector_end(pair[1]);
    const pid_t pid = ::fork();
    if (pid < 0)
        return make_error("sandbox.connector", std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::prctl(PR_SET_NAME, "cloakroom-conn");
        for (const int fd : close_in_child) ::close(fd);
        gateway_end.reset();
        // Not the caller's terminal or pipes: whoever waits for their end must not wait for us.
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            for (const int fd : {0, 1, 2}) ::dup2(null, fd);
            ::close(null);
        }
        serve(connector_end.get(), refused_ports);
    }
    return gateway_end;
}

}  // namespace cloakroom::sandbox
