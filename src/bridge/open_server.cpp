#include "bridge/open_server.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <vector>

#include "browser/open_decision.hpp"
#include "runtime/exchange.hpp"
#include "util/unix_socket.hpp"

extern char** environ;

namespace cloakroom::bridge {
namespace net = boost::asio;
using Descriptor = net::posix::stream_descriptor;

constexpr std::string_view kAuditOpen = "browser_open";
constexpr std::chrono::seconds kMessageTimeout{5};

struct OpenServer::State {
    State(net::io_context& context, const runtime::RuntimeHolder& holder, net::thread_pool& pool)
        : io(context), runtime(holder), blocking(pool) {}
    net::io_context& io;
    const runtime::RuntimeHolder& runtime;
    net::thread_pool& blocking;
    std::filesystem::path path;
    std::unique_ptr<Descriptor> listener;
};

namespace {

void reply(int fd, std::string_view text) {
    (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// Runs the configured opener with the URL as its last argument: no shell, standard streams on
// /dev/null, waited for so no zombie is left.
void run_opener(std::vector<std::string> command, std::string url) {
    command.push_back(std::move(url));
    std::vector<char*> argv;
    for (auto& part : command) argv.push_back(part.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    for (int fd : {0, 1, 2}) {
        posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY,
                                         0);
    }
    pid_t pid = 0;
    if (::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    posix_spawn_file_actions_destroy(&actions);
}

net::awaitable<void> serve_request(std::shared_ptr<OpenServer::State> state, UniqueFd connection) {
    Descriptor descriptor(state->io, connection.release());
    net::steady_timer timeout(state->io);
    timeout.expires_after(kMessageTimeout);
    timeout.async_wait([&descriptor](const boost::system::error_code& ec) {
        if (!ec) descriptor.cancel();
    });
    boost::system::error_code ec;
    co_await descriptor.async_wait(Descriptor::wait_read,
                                   net::redirect_error(net::use_awaitable, ec));
    timeout.cancel();
    if (ec) co_return;
    std::string message(kMaxOpenMessage + 1, '\0');
    const ssize_t got = ::recv(descriptor.native_handle(), message.data(), message.size(),
                               MSG_DONTWAIT | MSG_TRUNC);
    if (got <= 0) co_return;
    const auto snapshot = state->runtime.get();
    runtime::Exchange exchange(snapshot->audit, kAuditOpen, "local");
    exchange.record().method = "OPEN";
    if (static_cast<std::size_t>(got) > kMaxOpenMessage) {
        exchange.refuse(runtime::Refusal{403, "open_refused", "the URL is too long"});
        exchange.finish();
        reply(descriptor.native_handle(), "refused: the URL is too long");
        co_return;
    }
    message.resize(static_cast<std::size_t>(got));
    const auto& settings = snapshot->config.browser;
    auto decision = browser::decide_open(message, settings.open_targets);
    exchange.record().host = decision.host;
    exchange.record().path = decision.path;
    if (!decision.allowed) {
        exchange.refuse(runtime::Refusal{403, "open_refused", decision.reason});
        exchange.finish();
        reply(descriptor.native_handle(), "refused: " + decision.reason);
        co_return;
    }
    exchange.complete(200, runtime::kAllow, "");
    exchange.finish();
    net::post(state->blocking, [command = settings.open_command, url = decision.url]() mutable {
        run_opener(std::move(command), std::move(url));
    });
    reply(descriptor.native_handle(), "ok");
}

net::awaitable<void> accept_loop(std::shared_ptr<OpenServer::State> state) {
    net::steady_timer pause(state->io);
    for (;;) {
        boost::system::error_code ec;
        if (!state->listener) co_return;
        co_await state->listener->async_wait(Descriptor::wait_read,
                                             net::redirect_error(net::use_awaitable, ec));
        if (ec || !state->listener) co_return;
        UniqueFd connection(
            ::accept4(state->listener->native_handle(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!connection) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
            continue;
        }
        if (!peer_is_same_user(connection.get())) {
            reply(connection.get(), "refused: only the gateway's own user may open URLs");
            continue;
        }
        net::co_spawn(state->io, serve_request(state, std::move(connection)), net::detached);
    }
}

}  // namespace

Result<std::unique_ptr<OpenServer>> OpenServer::open(const std::filesystem::path& path,
                                                     net::io_context& io,
                                                     const runtime::RuntimeHolder& runtime,
                                                     net::thread_pool& blocking) {
    auto fd = listen_unix_seqpacket(path, "bridge.open", "open-URL socket");
    if (!fd.ok()) return fd.error();
    auto state = std::make_shared<State>(io, runtime, blocking);
    state->path = path;
    state->listener = std::make_unique<Descriptor>(io, fd->release());
    net::co_spawn(io, accept_loop(state), net::detached);
    return std::unique_ptr<OpenServer>(new OpenServer(state));
}

OpenServer::~OpenServer() {
    if (state_->listener) {
        boost::system::error_code ec;
        state_->listener->close(ec);
        state_->listener.reset();
    }
    ::unlink(state_->path.c_str());
}

}  // namespace cloakroom::bridge
