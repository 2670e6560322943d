// How a sandboxed agent opens a URL on the host (docs/browser.md, "Inside cloakroom run"): the
// usual openers (`xdg-open`, `open`, `sensible-browser`, `x-www-browser`, `www-browser`) and
// `$BROWSER` are small scripts in /run/cloakroom/bin that run `cloakroom open`, which asks the
// gateway over its open-URL socket, bound into the sandbox. The gateway decides; nothing inside
// the sandbox can widen what is opened. Pure: names, script text and variables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sandbox/environment.hpp"

namespace cloakroom::sandbox {

inline constexpr const char* kBrowserShimDir = "/run/cloakroom/bin";
inline constexpr const char* kBrowserSocketPath = "/run/cloakroom/browser.sock";

// The opener names a shim is written for.
const std::vector<std::string>& browser_shim_names();

// The shim's text: runs `<helper> open -- URL...`.
std::string browser_shim_script(std::string_view helper);

// CLOAKROOM_BROWSER_SOCKET, BROWSER, and PATH with the shim directory first (the host's PATH,
// or a default, after it). landlock mode passes its own shim directory (in the session's private
// temporary directory) and the gateway's socket path on the host.
Variables browser_variables(const Variables& host, std::string_view shim_dir = kBrowserShimDir,
                            std::string_view socket = kBrowserSocketPath);

}  // namespace cloakroom::sandbox
