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

#include "bridge/callback_forwarder.hpp"
#include "browser/open_decision.hpp"
#include "runtime/exchange.hpp"
#include "util/unix_accept.hpp"
#include "util/unix_socket.hpp"

extern char** environ;

namespace cloakroom::bridge {
namespace net = boost::asio;
using Descriptor = net::posix::stream_descriptor;

constexpr std::string_view kAuditOpen = "browser_open";
constexpr std::chrono::seconds kMessageTimeout{5};

struct OpenServer::State {
    State(net::io_context& context, const runtime::RuntimeHolder& holder, net::thread_pool& pool)
        : io(context), runtime(holder), blocking(pool), callbacks(context, holder) {}
    net::io_context& io;
    const runtime::RuntimeHolder& runtime;
    net::thread_pool& blocking;
    std::filesystem::path path;
    std::unique_ptr<Descriptor> listener;
    CallbackForwarder callbacks;
    std::function<std::optional<SandboxLink>(pid_t)> find_sandbox;
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

pid_t peer_pid(int fd) {
    ucred credentials{};
    socklen_t length = sizeof(credentials);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return 0;
    return credentials.pid;
}

// An allowed URL from a sandbox that names a loopback callback: the host port is bound for that
// sandbox before the browser sees the URL. "" when all is well, else why the open is refused.
std::string prepare_callback(OpenServer::State& state, const browser::OpenDecision& decision,
                             pid_t peer, const runtime::Runtime& snapshot) {
    if (!decision.callback_port || !state.find_sandbox || peer <= 0) return "";
    auto sandbox = state.find_sandbox(peer);
    if (!sandbox) return "";  // the host's own `cloakroom open`: no callback to route
    const auto port = *decision.callback_port;
    const auto lifetime = snapshot.config.browser.callback_timeout;
    runtime::Exchange exchange(snapshot.audit, kAuditCallback, "local");
    exchange.record().method = "LISTEN";
    exchange.record().host = "localhost:" + std::to_string(port);
    exchange.record().token_id = sandbox->token_id;
    exchange.record().service = sandbox->session;
    auto expected = state.callbacks.expect(port, *sandbox, lifetime);
    if (!expected.ok() && expected.error().code == kCallbackPortInUse &&
        !decision.callback_from_redirect) {
        // The URL itself is a page a host program serves (a local app): opened as it is, the
        // browser goes there; no callback to route.
        exchange.complete(200, runtime::kPassthrough,
                          "a host program serves this port: nothing routed into the sandbox");
        exchange.finish();
        return "";
    }
    if (!expected.ok()) {
        exchange.refuse(runtime::Refusal{403, "callback_refused", expected.error().message});
        exchange.finish();
        return "the login's callback cannot be routed: " + expected.error().message;
    }
    exchange.complete(200, runtime::kAllow,
                      "listening for sandbox \"" + sandbox->session + "\" for " +
                          std::to_string(lifetime.count()) + " s");
    exchange.finish();
    return "";
}

net::awaitable<void> serve_request(std::shared_ptr<OpenServer::State> state, UniqueFd connection,
                                   pid_t peer) {
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
    if (const std::string why = prepare_callback(*state, decision, peer, *snapshot); !why.empty()) {
        exchange.refuse(runtime::Refusal{403, "open_refused", why});
        exchange.finish();
        reply(descriptor.native_handle(), "refused: " + why);
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
    for (;;) {
        UniqueFd connection = co_await accept_unix(state->listener);
        if (!connection) co_return;
        if (!peer_is_same_user(connection.get())) {
            reply(connection.get(), "refused: only the gateway's own user may open URLs");
            continue;
        }
        const pid_t peer = peer_pid(connection.get());
        net::co_spawn(state->io, serve_request(state, std::move(connection), peer), net::detached);
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

void OpenServer::set_sandbox_finder(std::function<std::optional<SandboxLink>(pid_t)> finder) {
    state_->find_sandbox = std::move(finder);
}

void OpenServer::prune_callbacks() {
    state_->callbacks.prune();
}

OpenServer::~OpenServer() {
    state_->find_sandbox = nullptr;
    state_->callbacks.close();
    if (state_->listener) {
        boost::system::error_code ec;
        state_->listener->close(ec);
        state_->listener.reset();
    }
    ::unlink(state_->path.c_str());
}

}  // namespace cloakroom::bridge
