// The hand-over socket (docs/transparent.md, "Hand-over socket"): `cloakroom run` creates
// listening sockets inside the sandbox's network namespace and passes them here (AF_UNIX,
// SOCK_SEQPACKET, SCM_RIGHTS); the gateway accepts on them with its usual handlers, so sandbox
// connections are served by this process and its upstream dials leave from the host's network.
// The adopted listeners live exactly as long as the hand-over connection: when `cloakroom run`
// ends (or is killed), the kernel closes the connection and the listeners are closed.
//
// Only processes of the gateway's own user may connect (SO_PEERCRED). Every descriptor that
// arrives and is not adopted is closed; a malformed message gets a precise error, never a crash.
#pragma once

#include <sys/types.h>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "bridge/sandbox_connector.hpp"
#include "serve/handover_message.hpp"
#include "serve/listener_registry.hpp"
#include "util/result.hpp"

namespace cloakroom::serve {

// The handlers of the listener kinds a sandbox may hand over.
struct HandoverHandlers {
    ConnectionHandler forward;
    ConnectionHandler transparent;
    ConnectionHandler dns_tcp;
    DatagramHandler dns;
    // The handler of the [[database]] listener named so, or an error naming the databases
    // this gateway serves (unset: no database is ever adopted).
    std::function<Result<ConnectionHandler>(const std::string& name)> database;
    // The DevTools proxy (unset: no "cdp" listener is adopted).
    ConnectionHandler cdp;
    // Called after a session ended (its connector is gone): the browser bridge lets go of its
    // callback ports.
    std::function<void()> session_ended;
};

// A network namespace, as the kernel names it: the nsfs device and inode.
struct NetnsId {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    bool operator==(const NetnsId&) const = default;
};

// The network namespace of process `pid` (/proc/PID/ns/net), or nullopt.
std::optional<NetnsId> process_netns(pid_t pid);

class HandoverServer {
  public:
    // Creates the socket at `path` (its directory 0700, the socket 0600). A stale socket file
    // with no listener behind it is replaced; a live one means another gateway runs: error
    // "serve.handover" ("another `cloakroom serve` is already listening on PATH"). The server
    // runs on `io` (the control thread) and adopts into `registry`, which must outlive it.
    // A path too long for a unix socket address: error "serve.handover.path".
    static Result<std::unique_ptr<HandoverServer>> open(const std::filesystem::path& path,
                                                        boost::asio::io_context& io,
                                                        ListenerRegistry& registry,
                                                        HandoverHandlers handlers);
    // The sandbox whose listeners live in network namespace `netns` (how the browser bridge
    // tells which sandbox asked to open a URL), or nullopt. Call on the server's io_context.
    std::optional<bridge::SandboxLink> find_sandbox(const NetnsId& netns) const;

    ~HandoverServer();  // closes every adopted listener and removes the socket file
    HandoverServer(const HandoverServer&) = delete;
    HandoverServer& operator=(const HandoverServer&) = delete;

    struct State;

  private:
    explicit HandoverServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace cloakroom::serve
