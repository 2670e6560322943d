// The open-URL socket (docs/browser.md, "Opening URLs"): `cloakroom open URL` (inside a sandbox,
// what `xdg-open`, `$BROWSER` and `open` run) sends one URL; the gateway opens it with the
// host's browser only when it matches a [[browser_target]], answers "ok" or "refused: why", and
// audits the decision (kind "browser_open", host and path without the query).
//
// AF_UNIX SOCK_SEQPACKET, 0600, and only the gateway's own user may ask (SO_PEERCRED). The
// peer's pid says which sandbox asked (`find_sandbox`): an allowed login URL from a sandbox
// whose redirect names http://localhost:PORT gets a callback listener for that sandbox
// (callback_forwarder.hpp) before the browser opens it.
#pragma once

#include <sys/types.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "bridge/sandbox_connector.hpp"

#include "runtime/runtime.hpp"
#include "util/result.hpp"

namespace cloakroom::bridge {

// Longest message accepted: a URL at the bridge's length cap.
inline constexpr std::size_t kMaxOpenMessage = 8192;

class OpenServer {
  public:
    // Listens at `path` on `io`; the opener runs on `blocking` (it may take a while and must not
    // stall `io`). Errors: "bridge.open" (".path" when the path is too long for a unix socket).
    static Result<std::unique_ptr<OpenServer>> open(const std::filesystem::path& path,
                                                    boost::asio::io_context& io,
                                                    const runtime::RuntimeHolder& runtime,
                                                    boost::asio::thread_pool& blocking);
    // Which sandbox the process `pid` (the gateway's pid namespace) runs in; unset or nullopt:
    // not a sandbox, no callback. Called on `io`.
    void set_sandbox_finder(std::function<std::optional<SandboxLink>(pid_t)> finder);
    // Lets go of the callback ports of sandboxes that have ended.
    void prune_callbacks();
    ~OpenServer();  // stops accepting and removes the socket file
    OpenServer(const OpenServer&) = delete;
    OpenServer& operator=(const OpenServer&) = delete;

    struct State;

  private:
    explicit OpenServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace cloakroom::bridge
