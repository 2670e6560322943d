// The DevTools (CDP) proxy's I/O: an agent's HTTP request or WebSocket to the proxy, the host
// browser's real DevTools endpoint behind it (docs/browser.md, "DevTools proxy").
//
// The policy runs here, on the host side, never in the sandbox: whoever reaches the proxy gets
// exactly the filtered view (browser/cdp_filter.hpp), and the browser's own port is not
// reachable from the sandbox. HTTP endpoints are answered from the browser's answers, filtered:
// /json and /json/list list allowed targets only, /json/version names the proxy's WebSocket,
// /json/new, /json/activate and /json/close act on allowed targets only, and every other path is
// refused. Every request is audited (kind "cdp"), and so is every refused command.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "runtime/runtime.hpp"

namespace cloakroom::bridge {

boost::asio::awaitable<void> run_cdp_connection(boost::asio::ip::tcp::socket agent,
                                                const runtime::RuntimeHolder& runtime);

}  // namespace cloakroom::bridge
