#include "bridge/sandbox_connector.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "util/fd_passing.hpp"

namespace cloakroom::bridge {
namespace net = boost::asio;

namespace {

// The connector connects on loopback with its own 3 s limit; this covers it and a busy sandbox.
constexpr std::chrono::seconds kAnswerTimeout{5};
constexpr std::size_t kMaxAnswer = 512;

Error failure(std::string why) {
    return make_error("bridge.callback", std::move(why));
}

bool send_request(int socket, const std::string& text, int attached) {
    const int fds[] = {attached};
    return send_with_fds(socket, text, fds, MSG_DONTWAIT) == static_cast<ssize_t>(text.size());
}

// One answer: its text and the socket attached, if any (every other descriptor is closed).
struct Answer {
    std::string text;
    UniqueFd fd;
};

Answer receive_answer(int socket) {
    Answer answer;
    ReceivedWithFds message = receive_with_fds(socket, kMaxAnswer, 4, MSG_DONTWAIT);
    if (message.bytes < 0) return answer;
    // The first descriptor is the answer; any other closes as `message` goes.
    if (!message.fds.empty()) answer.fd = std::move(message.fds.front());
    answer.text = std::move(message.text);
    return answer;
}

// Whether `fd` is a connected TCP socket (the connector's answer is checked, not trusted).
bool connected_tcp(int fd) {
    int type = 0;
    int protocol = 0;
    socklen_t length = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) {
        return false;
    }
    length = sizeof(protocol);
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &length) != 0 ||
        protocol != IPPROTO_TCP) {
        return false;
    }
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    return ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0;
}

}  // namespace

net::awaitable<Result<UniqueFd>> SandboxConnector::connect(std::uint16_t port,
                                                           bool ipv6_first) const {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
        co_return failure(std::string("socketpair: ") + std::strerror(errno));
    }
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const std::string request = "connect " + std::to_string(port) + " " + (ipv6_first ? "6" : "4");
    if (!send_request(socket_.get(), request, theirs.get())) {
        co_return failure("the sandbox's connector is gone");
    }
    theirs.reset();  // the connector holds the other end now; EOF if it dies
    net::posix::stream_descriptor descriptor(co_await net::this_coro::executor, ours.release());
    net::steady_timer timeout(descriptor.get_executor());
    timeout.expires_after(kAnswerTimeout);
    timeout.async_wait([&descriptor](const boost::system::error_code& ec) {
        if (!ec) descriptor.cancel();
    });
    boost::system::error_code ec;
    co_await descriptor.async_wait(net::posix::stream_descriptor::wait_read,
                                   net::redirect_error(net::use_awaitable, ec));
    timeout.cancel();
    if (ec) co_return failure("the sandbox's connector did not answer");
    Answer answer = receive_answer(descriptor.native_handle());
    if (answer.text == "ok" && answer.fd && connected_tcp(answer.fd.get())) {
        co_return std::move(answer.fd);
    }
    if (answer.text.starts_with("refused: ") && answer.text.size() < 200) {
        co_return failure(answer.text.substr(9));
    }
    co_return failure("the sandbox's connector gave no connection");
}

}  // namespace cloakroom::bridge
