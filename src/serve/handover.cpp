#include "serve/handover.hpp"

#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <list>
#include <optional>
#include <system_error>

#include "util/fd_passing.hpp"
#include "util/unix_accept.hpp"
#include "util/unix_socket.hpp"

namespace cloakroom::serve {
namespace net = boost::asio;
using Descriptor = net::posix::stream_descriptor;

struct HandoverServer::State {
    struct Entry {
        HandoverSession info;
        std::vector<AdoptedId> ids;
        std::shared_ptr<bridge::SandboxConnector> connector;
        std::optional<NetnsId> netns;
    };

    State(net::io_context& context, ListenerRegistry& listeners, HandoverHandlers kinds)
        : io(context), registry(&listeners), handlers(std::move(kinds)) {}

    void end(std::list<Entry>::iterator entry) {
        if (registry != nullptr) {
            for (const AdoptedId id : entry->ids) registry->remove(id);
        }
        spdlog::info("sandbox \"{}\" hand-over closed: its {} listeners are closed",
                     entry->info.session, entry->ids.size());
        sessions.erase(entry);
        if (handlers.session_ended) handlers.session_ended();
    }

    net::io_context& io;
    ListenerRegistry* registry;  // null once the server is gone (shutdown)
    HandoverHandlers handlers;
    std::filesystem::path path;
    std::unique_ptr<Descriptor> listener;
    std::list<Entry> sessions;
};

namespace {

std::string errno_text(int error) {
    return std::generic_category().message(error);
}

int socket_option(int fd, int level, int name, int& value) {
    socklen_t length = sizeof(value);
    return ::getsockopt(fd, level, name, &value, &length);
}

// Why `fd` cannot serve as a listener of `kind`, or nullopt when it can.
std::optional<std::string> fd_problem(int fd, ListenerKind kind) {
    int type = 0;
    int domain = 0;
    int protocol = 0;
    if (socket_option(fd, SOL_SOCKET, SO_TYPE, type) != 0) {
        return errno == ENOTSOCK ? "not a socket" : "not a usable socket: " + errno_text(errno);
    }
    if (socket_option(fd, SOL_SOCKET, SO_DOMAIN, domain) != 0 ||
        socket_option(fd, SOL_SOCKET, SO_PROTOCOL, protocol) != 0) {
        return "not a usable socket: " + errno_text(errno);
    }
    if (kind == ListenerKind::Connector) {
        if (domain != AF_UNIX || type != SOCK_SEQPACKET) return "not a unix SOCK_SEQPACKET socket";
        return std::nullopt;
    }
    if (domain == AF_UNIX) return "a unix socket, expected an IP socket";
    if (domain != AF_INET && domain != AF_INET6) {
        return "not an IP socket (address family " + std::to_string(domain) + ")";
    }
    if (kind == ListenerKind::Dns) {
        if (type == SOCK_STREAM) return "a TCP socket, expected a bound UDP socket";
        if (type != SOCK_DGRAM || protocol != IPPROTO_UDP) return "not a UDP socket";
        sockaddr_storage local{};
        socklen_t length = sizeof(local);
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
            return "a UDP socket without an address: " + errno_text(errno);
        }
        const auto port = local.ss_family == AF_INET
                              ? reinterpret_cast<const sockaddr_in&>(local).sin_port
                              : reinterpret_cast<const sockaddr_in6&>(local).sin6_port;
        if (port == 0) return "a UDP socket that is not bound to a port";
        return std::nullopt;
    }
    if (type == SOCK_DGRAM) return "a UDP socket, expected a listening TCP socket";
    if (type != SOCK_STREAM || protocol != IPPROTO_TCP) {
        return "not a TCP socket (type " + std::to_string(type) + ", protocol " +
               std::to_string(protocol) + ")";
    }
    int accepting = 0;
    if (socket_option(fd, SOL_SOCKET, SO_ACCEPTCONN, accepting) != 0 || accepting == 0) {
        return "a TCP socket that is not listening (listen() was not called)";
    }
    return std::nullopt;
}

// The network namespace a socket was created in (SIOCGSKNS, Linux 4.9), or nullopt.
std::optional<NetnsId> socket_netns(int fd) {
    UniqueFd ns(::ioctl(fd, SIOCGSKNS));
    if (!ns) return std::nullopt;
    struct stat info {};
    if (::fstat(ns.get(), &info) != 0) return std::nullopt;
    return NetnsId{static_cast<std::uint64_t>(info.st_dev),
                   static_cast<std::uint64_t>(info.st_ino)};
}

struct Received {
    bool eof = false;
    bool again = false;
    std::optional<std::string> error;  // a malformed message (answered, connection stays)
    std::string text;
    std::vector<UniqueFd> fds;
};

Received receive(int fd) {
    Received received;
    // Every descriptor that arrived is owned from here on, so each error path closes them.
    ReceivedWithFds message =
        receive_with_fds(fd, kMaxHandoverMessage, kMaxHandoverFds, MSG_DONTWAIT);
    if (message.bytes < 0) {
        if (message.error == EAGAIN || message.error == EWOULDBLOCK) {
            received.again = true;
        } else {
            received.eof = true;
        }
        return received;
    }
    received.fds = std::move(message.fds);
    if (message.bytes == 0 && received.fds.empty()) {
        received.eof = true;
        return received;
    }
    if (message.fds_truncated) {
        received.error = "too many file descriptors in one message (at most " +
                         std::to_string(kMaxHandoverFds) + ")";
    } else if (message.text_truncated) {
        received.error =
            "message too long (at most " + std::to_string(kMaxHandoverMessage) + " bytes)";
    }
    received.text = std::move(message.text);
    return received;
}

void reply(int fd, const std::string& text) {
    ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

using Session = std::optional<std::list<HandoverServer::State::Entry>::iterator>;

std::string listener_error(std::size_t index, const HandoverListener& listener,
                           const std::string& problem) {
    return handover_error("listener " + std::to_string(index + 1) + " (" + listener.name() +
                          "): " + problem);
}

std::string adopt(HandoverServer::State& state, HandoverRequest& request,
                  std::vector<UniqueFd>& fds, Session& session) {
    if (session) {
        return handover_error("this connection already handed over sandbox \"" +
                              (*session)->info.session + "\"");
    }
    // Everything is checked before anything is adopted: a refused request adopts nothing.
    std::vector<ConnectionHandler> handlers(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) {
        const HandoverListener& listener = request.listeners[i];
        if (auto problem = fd_problem(fds[i].get(), listener.kind)) {
            return listener_error(i, listener, *problem);
        }
        switch (listener.kind) {
            case ListenerKind::Forward:
                handlers[i] = state.handlers.forward;
                break;
            case ListenerKind::Transparent:
                handlers[i] = state.handlers.transparent;
                break;
            case ListenerKind::DnsTcp:
                handlers[i] = state.handlers.dns_tcp;
                break;
            case ListenerKind::Dns:
            case ListenerKind::Connector:
                break;
            case ListenerKind::Cdp:
                if (!state.handlers.cdp) {
                    return listener_error(i, listener, "this gateway adopts no DevTools listener");
                }
                handlers[i] = state.handlers.cdp;
                break;
            case ListenerKind::Database: {
                if (!state.handlers.database) {
                    return listener_error(i, listener, "this gateway adopts no database listener");
                }
                auto handler = state.handlers.database(listener.database);
                if (!handler.ok()) return listener_error(i, listener, handler.error().message);
                handlers[i] = std::move(*handler);
                break;
            }
        }
    }
    if (state.registry == nullptr) return handover_error("the gateway is stopping");
    std::optional<NetnsId> netns;
    std::shared_ptr<bridge::SandboxConnector> connector;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (request.listeners[i].kind == ListenerKind::Connector) {
            connector = std::make_shared<bridge::SandboxConnector>(std::move(fds[i]));
        } else if (!netns) {
            netns = socket_netns(fds[i].get());
        }
    }
    std::vector<AdoptedId> ids;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        const HandoverListener& listener = request.listeners[i];
        if (listener.kind == ListenerKind::Connector) continue;
        std::string what = "sandbox " + request.session + ", " + listener.name();
        Result<AdoptedId> id =
            listener.kind == ListenerKind::Dns
                ? state.registry->adopt_datagram(std::move(fds[i]), what, state.handlers.dns)
                : state.registry->adopt_stream(std::move(fds[i]), what, handlers[i]);
        if (!id.ok()) {
            for (const AdoptedId adopted : ids) state.registry->remove(adopted);
            return listener_error(i, listener, id.error().message);
        }
        ids.push_back(*id);
    }
    state.sessions.push_back({HandoverSession{request.session, request.token_id, ids.size()},
                              std::move(ids), std::move(connector), netns});
    session = std::prev(state.sessions.end());
    spdlog::info("sandbox \"{}\" handed over {} listeners", request.session,
                 (*session)->ids.size());
    return handover_ok();
}

std::string answer(HandoverServer::State& state, Received& received, Session& session) {
    if (received.error) return handover_error(*received.error);
    auto request = parse_handover_request(received.text, received.fds.size());
    if (!request.ok()) return handover_error(request.error().message);
    if (request->op == HandoverRequest::Op::Status) {
        std::vector<HandoverSession> sessions;
        for (const auto& entry : state.sessions) sessions.push_back(entry.info);
        return handover_status(sessions);
    }
    return adopt(state, *request, received.fds, session);
}

// Ends the connection's session however the coroutine ends (peer gone, or the io_context
// destroyed with the frame still suspended at shutdown).
struct SessionGuard {
    std::shared_ptr<HandoverServer::State> state;
    Session session;
    ~SessionGuard() {
        if (session) state->end(*session);
    }
};

net::awaitable<void> serve_connection(std::shared_ptr<HandoverServer::State> state,
                                      UniqueFd connection) {
    Descriptor descriptor(state->io, connection.release());
    SessionGuard guard{state, std::nullopt};
    for (;;) {
        boost::system::error_code ec;
        co_await descriptor.async_wait(Descriptor::wait_read,
                                       net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        Received received = receive(descriptor.native_handle());
        if (received.again) continue;
        if (received.eof) co_return;
        const std::string text = answer(*state, received, guard.session);
        reply(descriptor.native_handle(), text);
        // Descriptors not adopted close here, as `received` goes out of scope.
    }
}

net::awaitable<void> accept_loop(std::shared_ptr<HandoverServer::State> state) {
    for (;;) {
        UniqueFd connection = co_await accept_unix(state->listener);
        if (!connection) co_return;
        if (!peer_is_same_user(connection.get())) {
            reply(connection.get(),
                  handover_error("only the gateway's own user may hand over listeners"));
            spdlog::warn("sandbox hand-over: refused a connection from another user");
            continue;
        }
        net::co_spawn(state->io, serve_connection(state, std::move(connection)), net::detached);
    }
}

}  // namespace

Result<std::unique_ptr<HandoverServer>> HandoverServer::open(const std::filesystem::path& path,
                                                             net::io_context& io,
                                                             ListenerRegistry& registry,
                                                             HandoverHandlers handlers) {
    // The directory is private when created, the socket 0600; SO_PEERCRED is checked on every
    // connection anyway.
    auto fd = listen_unix_seqpacket(path, "serve.handover", "sandbox socket");
    if (!fd.ok()) return fd.error();
    auto state = std::make_shared<State>(io, registry, std::move(handlers));
    state->path = path;
    state->listener = std::make_unique<Descriptor>(io, fd->release());
    net::co_spawn(io, accept_loop(state), net::detached);
    return std::unique_ptr<HandoverServer>(new HandoverServer(state));
}

std::optional<NetnsId> process_netns(pid_t pid) {
    struct stat info {};
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
    if (::stat(path.c_str(), &info) != 0) return std::nullopt;
    return NetnsId{static_cast<std::uint64_t>(info.st_dev),
                   static_cast<std::uint64_t>(info.st_ino)};
}

std::optional<bridge::SandboxLink> HandoverServer::find_sandbox(const NetnsId& netns) const {
    for (const auto& entry : state_->sessions) {
        if (entry.netns && *entry.netns == netns) {
            return bridge::SandboxLink{entry.info.session, entry.info.token_id, entry.connector};
        }
    }
    return std::nullopt;
}

HandoverServer::~HandoverServer() {
    // The sessions' entries stay until their connections' guards end them; their listeners
    // close now.
    for (auto& entry : state_->sessions) {
        for (const AdoptedId id : entry.ids) state_->registry->remove(id);
        entry.ids.clear();
        entry.connector.reset();
    }
    state_->registry = nullptr;
    state_->handlers.session_ended = nullptr;  // whoever it calls may be gone before the sessions
    if (state_->listener) {
        boost::system::error_code ec;
        state_->listener->close(ec);
        state_->listener.reset();
    }
    ::unlink(state_->path.c_str());
}

}  // namespace cloakroom::serve
