#include "bridge/callback_forwarder.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <vector>

#include "runtime/exchange.hpp"
#include "runtime/peer_address.hpp"
#include "runtime/socket_io.hpp"
#include "runtime/two_way_pump.hpp"

namespace cloakroom::bridge {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// A forwarded callback connection that moves nothing for this long is closed.
constexpr std::chrono::minutes kIdleTimeout{2};

Error callback_error(std::string message) {
    return make_error("bridge.callback", std::move(message));
}

}  // namespace

struct CallbackSlot {
    std::uint16_t port = 0;
    std::string session;
    std::string token_id;
    std::weak_ptr<SandboxConnector> connector;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::unique_ptr<net::steady_timer> expiry;

    bool alive() const { return !connector.expired(); }
    void close() {
        boost::system::error_code ignored;
        for (auto& acceptor : acceptors) acceptor->close(ignored);
        if (expiry) expiry->cancel();
    }
};

struct CallbackForwarder::State {
    State(net::io_context& context, const runtime::RuntimeHolder& holder)
        : io(context), runtime(holder) {}
    net::io_context& io;
    const runtime::RuntimeHolder& runtime;
    std::map<std::uint16_t, std::shared_ptr<CallbackSlot>> slots;

    void release(const std::shared_ptr<CallbackSlot>& slot, const char* why) {
        auto found = slots.find(slot->port);
        if (found == slots.end() || found->second != slot) return;
        slot->close();
        slots.erase(found);
        spdlog::info("callback port {} of sandbox \"{}\" closed ({})", slot->port, slot->session,
                     why);
    }
};

namespace {

net::awaitable<void> forward(std::shared_ptr<CallbackForwarder::State> state,
                             std::shared_ptr<CallbackSlot> slot, tcp::socket host) {
    const auto snapshot = state->runtime.get();
    runtime::Exchange exchange(snapshot->audit, kAuditCallback, runtime::peer_address(host));
    exchange.record().method = "CALLBACK";
    exchange.record().host = "localhost:" + std::to_string(slot->port);
    exchange.record().token_id = slot->token_id;
    exchange.record().service = slot->session;
    boost::system::error_code ec;
    const bool ipv6 = host.local_endpoint(ec).address().is_v6();
    auto connector = slot->connector.lock();
    if (!connector) {
        exchange.refuse(runtime::Refusal{502, "callback_sandbox_gone",
                                         "sandbox \"" + slot->session + "\" has ended"});
        exchange.finish();
        host.close(ec);
        state->release(slot, "the sandbox ended");
        co_return;
    }
    auto inside = co_await connector->connect(slot->port, ipv6);
    if (!inside.ok()) {
        exchange.refuse(runtime::Refusal{502, "callback_no_listener", inside.error().message});
        exchange.finish();
        host.shutdown(tcp::socket::shutdown_both, ec);
        host.close(ec);
        co_return;
    }
    tcp::socket sandbox(host.get_executor());
    int family = AF_INET;
    {
        sockaddr_storage local{};
        socklen_t length = sizeof(local);
        if (::getsockname(inside->get(), reinterpret_cast<sockaddr*>(&local), &length) == 0) {
            family = local.ss_family;
        }
    }
    sandbox.assign(family == AF_INET6 ? tcp::v6() : tcp::v4(), inside->release(), ec);
    if (ec) {
        exchange.fail(502, "the sandbox's connection could not be used: " + ec.message());
        exchange.finish();
        host.close(ec);
        co_return;
    }
    runtime::SocketSide host_side(host);
    runtime::SocketSide sandbox_side(sandbox);
    runtime::PumpOptions options;
    options.end_mode = runtime::EndMode::HalfClose;
    options.idle_timeout = kIdleTimeout;
    options.a_name = "browser";
    options.b_name = "sandbox";
    auto result = co_await runtime::pump_both_ways(host_side, sandbox_side, options);
    exchange.record().bytes_in = result.a_to_b;
    exchange.record().bytes_out = result.b_to_a;
    exchange.complete(
        200, runtime::kTunnel,
        "forwarded into sandbox \"" + slot->session + "\" port " + std::to_string(slot->port));
    exchange.finish();
}

net::awaitable<void> accept_loop(std::shared_ptr<CallbackForwarder::State> state,
                                 std::shared_ptr<CallbackSlot> slot, tcp::acceptor* acceptor) {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
        if (!acceptor->is_open()) co_return;
        if (ec) {
            if (ec == net::error::operation_aborted) co_return;
            net::steady_timer pause(state->io, std::chrono::milliseconds(100));
            co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
            continue;
        }
        net::co_spawn(state->io, forward(state, slot, std::move(socket)), net::detached);
    }
}

// Binds address:port; EADDRNOTAVAIL/EAFNOSUPPORT for IPv6 means a host without IPv6 loopback:
// nullptr, not an error.
Result<std::unique_ptr<tcp::acceptor>> bind_loopback(net::io_context& io, const char* address,
                                                     std::uint16_t port) {
    const auto ip = net::ip::make_address(address);
    auto acceptor = std::make_unique<tcp::acceptor>(io);
    boost::system::error_code ec;
    acceptor->open(ip.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (!ec && ip.is_v6()) acceptor->set_option(net::ip::v6_only(true), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(tcp::endpoint(ip, port), ec);
    if (!ec) acceptor->listen(16, ec);
    if (!ec) return acceptor;
    if (ip.is_v6() && (ec == boost::system::errc::address_not_available ||
                       ec == net::error::address_family_not_supported)) {
        return std::unique_ptr<tcp::acceptor>();
    }
    if (ec == net::error::address_in_use) {
        return make_error(std::string(kCallbackPortInUse),
                          "something on the host already listens on " +
                              std::string(ip.is_v6() ? "[::1]" : "127.0.0.1") + ":" +
                              std::to_string(port) + ", which would receive the callback");
    }
    return callback_error("cannot listen on " + std::string(address) + ":" + std::to_string(port) +
                          ": " + ec.message());
}

void arm_expiry(const std::shared_ptr<CallbackForwarder::State>& state,
                const std::shared_ptr<CallbackSlot>& slot, std::chrono::seconds lifetime) {
    slot->expiry->expires_after(lifetime);
    slot->expiry->async_wait([weak = std::weak_ptr(state), slot](boost::system::error_code ec) {
        if (ec) return;  // cancelled or re-armed
        if (auto live = weak.lock()) live->release(slot, "its time is up");
    });
}

}  // namespace

CallbackForwarder::CallbackForwarder(net::io_context& io, const runtime::RuntimeHolder& runtime)
    : state_(std::make_shared<State>(io, runtime)) {}

CallbackForwarder::~CallbackForwarder() {
    close();
}

void CallbackForwarder::close() {
    for (auto& [port, slot] : state_->slots) slot->close();
    state_->slots.clear();
}

Result<void> CallbackForwarder::expect(std::uint16_t port, const SandboxLink& sandbox,
                                       std::chrono::seconds lifetime) {
    if (!sandbox.connector) {
        return callback_error("sandbox \"" + sandbox.session + "\" has no callback connector");
    }
    if (port < 1024) {
        // The gateway may run as root; a login must not make it take a system service's port.
        return callback_error("callback port " + std::to_string(port) +
                              " is a privileged port (below 1024)");
    }
    prune();
    if (auto held = state_->slots.find(port); held != state_->slots.end()) {
        const auto& slot = held->second;
        if (slot->connector.lock() != sandbox.connector) {
            return callback_error("callback port " + std::to_string(port) +
                                  " is held for sandbox \"" + slot->session + "\"");
        }
        arm_expiry(state_, slot, lifetime);
        return {};
    }
    auto slot = std::make_shared<CallbackSlot>();
    slot->port = port;
    slot->session = sandbox.session;
    slot->token_id = sandbox.token_id;
    slot->connector = sandbox.connector;
    for (const char* address : {"127.0.0.1", "::1"}) {
        auto acceptor = bind_loopback(state_->io, address, port);
        if (!acceptor.ok()) {
            slot->close();
            return acceptor.error();
        }
        if (*acceptor) slot->acceptors.push_back(std::move(*acceptor));
    }
    slot->expiry = std::make_unique<net::steady_timer>(state_->io);
    arm_expiry(state_, slot, lifetime);
    for (auto& acceptor : slot->acceptors) {
        net::co_spawn(state_->io, accept_loop(state_, slot, acceptor.get()), net::detached);
    }
    state_->slots.emplace(port, slot);
    spdlog::info("callback port {} open for sandbox \"{}\" for {} s", port, sandbox.session,
                 lifetime.count());
    return {};
}

void CallbackForwarder::prune() {
    std::vector<std::shared_ptr<CallbackSlot>> gone;
    for (const auto& [port, slot] : state_->slots) {
        if (!slot->alive()) gone.push_back(slot);
    }
    for (const auto& slot : gone) state_->release(slot, "the sandbox ended");
}

}  // namespace cloakroom::bridge
