// OAuth callbacks into a sandbox (docs/browser.md, "OAuth callbacks"). When a sandbox opens a
// login URL whose redirect names http://localhost:PORT (browser/callback_url.hpp), the gateway
// listens on 127.0.0.1:PORT and [::1]:PORT of the host for a limited time, for that sandbox
// only. Each connection the host's browser makes there is forwarded into the sandbox's
// PORT through the sandbox's callback connector (sandbox_connector.hpp), which connects only
// when a process in the sandbox listens on that port at that moment; otherwise the browser's
// connection is closed. Every connection is audited (kind "browser_callback").
//
// A port belongs to one sandbox at a time: another sandbox naming a port still held is refused
// (it could otherwise receive the first one's authorization code), and so is a port something
// else on the host already listens on. Runs on one io_context (the gateway's control thread).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "bridge/sandbox_connector.hpp"
#include "runtime/runtime.hpp"
#include "util/result.hpp"

namespace cloakroom::bridge {

inline constexpr std::string_view kAuditCallback = "browser_callback";
// The error code of expect() when something on the host listens on the port already.
inline constexpr std::string_view kCallbackPortInUse = "bridge.callback.in_use";

class CallbackForwarder {
  public:
    CallbackForwarder(boost::asio::io_context& io, const runtime::RuntimeHolder& runtime);
    ~CallbackForwarder();  // closes every callback listener
    CallbackForwarder(const CallbackForwarder&) = delete;
    CallbackForwarder& operator=(const CallbackForwarder&) = delete;

    // Listens on the host's 127.0.0.1:port and [::1]:port for `sandbox` until `lifetime` has
    // passed (counted again from now when that sandbox holds the port already). Errors
    // "bridge.callback": the port is held for another sandbox, something on the host listens on
    // it, or `sandbox` has no connector.
    Result<void> expect(std::uint16_t port, const SandboxLink& sandbox,
                        std::chrono::seconds lifetime);

    // Lets go of the ports of sandboxes that have ended.
    void prune();
    // Closes every callback listener (the gateway is stopping).
    void close();

    struct State;

  private:
    std::shared_ptr<State> state_;
};

}  // namespace cloakroom::bridge
