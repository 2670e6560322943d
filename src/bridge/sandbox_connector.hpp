// The gateway's side of a sandbox's callback connector (docs/browser.md, "OAuth callbacks"): a
// small process inside the sandbox's network namespace, started by the sandbox's pid 1 and
// handed to the gateway with the listeners (hand-over kind "connector"). Asked for a port, it
// connects to the sandbox's own loopback address and passes the connected socket back
// (SCM_RIGHTS). So the gateway reaches a port in the sandbox without entering its namespace
// (setns on a network namespace needs CAP_SYS_ADMIN in the gateway's own user namespace) and
// without giving the sandbox any host port; the connection succeeds only when a process in
// the sandbox listens on that port at that moment.
//
// Wire: the gateway sends "connect PORT 4" (or 6: the family to try first) with one end of a
// fresh SOCK_SEQPACKET pair attached; the connector answers on that pair "ok" with the connected
// socket, or "refused: why". A pair per request, so concurrent requests need no matching.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::bridge {

class SandboxConnector {
  public:
    explicit SandboxConnector(UniqueFd socket) : socket_(std::move(socket)) {}

    // A TCP connection to `port` on the sandbox's loopback (IPv6 first when `ipv6_first`, then
    // the other family). Errors "bridge.callback" say why ("nothing in the sandbox listens on
    // port 8765", "the sandbox's connector is gone").
    boost::asio::awaitable<Result<UniqueFd>> connect(std::uint16_t port, bool ipv6_first) const;

  private:
    UniqueFd socket_;
};

// A sandbox the gateway serves, as the browser bridge sees it.
struct SandboxLink {
    std::string session;
    std::string token_id;                         // the session token's id (for the audit)
    std::shared_ptr<SandboxConnector> connector;  // null: the session handed over none
};

}  // namespace cloakroom::bridge
