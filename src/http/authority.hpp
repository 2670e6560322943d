// Syntax of the authority a client names: the Host field and a CONNECT target. Invariant 2
// compares these with each other and with the TLS SNI, so they are held to a narrow grammar
// (DNS-style names, IPv4, bracketed IPv6) rather than everything RFC 3986 reg-name permits:
// sub-delims, percent-escapes or userinfo in a host name would only make that comparison
// ambiguous. Internal to src/http.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cloakroom::http::detail {

enum class PortRule { Optional, Required };

// nullopt when `authority` is host[:port] in that grammar, else what is wrong (no input quoted).
std::optional<std::string> authority_problem(std::string_view authority, PortRule port);

}  // namespace cloakroom::http::detail
