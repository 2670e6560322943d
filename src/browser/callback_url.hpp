// Which loopback port an OAuth login opened in the host's browser will call back on
// (docs/browser.md, "OAuth callbacks"): the `redirect_uri` query parameter (percent-decoded)
// when it names http://localhost:PORT/..., http://127.0.0.1:PORT/... or http://[::1]:PORT/...,
// else the opened URL itself when it is one of those. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "browser/browser_url.hpp"

namespace cloakroom::browser {

// The port, or nullopt: no loopback callback, the port left to the scheme's default, another
// loopback address (127.0.0.2: Cloakroom listens on 127.0.0.1 and ::1 only), or two
// `redirect_uri` parameters naming different ports (ambiguous: which one would the provider
// use?).
std::optional<std::uint16_t> callback_port(const BrowserUrl& url);

// Whether the port callback_port() found came from `redirect_uri` (a login that sends a code
// there) rather than from the URL itself (which may be a local page served on the host).
bool callback_from_redirect(const BrowserUrl& url);

// "%3A" -> ":"; nullopt for a malformed escape. '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace cloakroom::browser
