// The DevTools HTTP endpoints as the proxy serves them (docs/browser.md, "DevTools proxy"):
// which request is which, and the browser's answers rewritten for the agent. Pure: the proxy's
// I/O (bridge/cdp_proxy.cpp) fetches and sends.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "browser/cdp_target_rule.hpp"

namespace cloakroom::browser {

enum class CdpEndpoint {
    List,           // GET /json, /json/list
    Version,        // GET /json/version
    Protocol,       // GET /json/protocol (the protocol's schema: nothing about tabs)
    New,            // PUT /json/new?<url>
    Activate,       // GET /json/activate/<id>
    Close,          // GET /json/close/<id>
    BrowserSocket,  // WebSocket /devtools/browser[/<id>]
    PageSocket,     // WebSocket /devtools/page/<id>
    Refused,        // anything else
};

struct CdpRequest {
    CdpEndpoint endpoint = CdpEndpoint::Refused;
    std::string target_id;  // Activate, Close, PageSocket
    std::string url;        // New: the URL to open, percent-decoded as Chrome decodes it
};

// `target` is the request-target ("/json/list?x"); `upgrade`: a WebSocket upgrade request.
// Path matching is exact and case-sensitive, like Chrome's; target ids are limited to the
// characters Chrome uses (hex, letters, '-').
CdpRequest classify_cdp_request(std::string_view method, std::string_view target, bool upgrade);

// Whether a Host header names this machine's loopback ("localhost", "127.0.0.1", "[::1]", with
// or without a port). Anything else is a DNS-rebinding attempt from a web page.
bool is_loopback_host_header(std::string_view host);

// /json/list from the browser -> the allowed targets only, each WebSocket URL pointing at the
// proxy (`proxy_authority`, the Host the agent used) and the DevTools front-end URL (which names
// the browser's own port) removed. nullopt: the browser's answer is not a JSON array.
std::optional<std::string> filter_target_list(std::string_view body, const CdpTargetPolicy& policy,
                                              std::string_view proxy_authority);

// One target (/json/new's answer) the same way; nullopt when malformed or not allowed.
std::optional<std::string> filter_target(std::string_view body, const CdpTargetPolicy& policy,
                                         std::string_view proxy_authority, bool owned);

// /json/version from the browser with webSocketDebuggerUrl pointing at the proxy. nullopt: not a
// JSON object.
std::optional<std::string> rewrite_version(std::string_view body, std::string_view proxy_authority);

// The path of the browser's WebSocket URL in /json/version ("/devtools/browser/<id>").
std::optional<std::string> browser_socket_path(std::string_view version_body);

}  // namespace cloakroom::browser
