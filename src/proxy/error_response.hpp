// Responses Cloakroom itself produces (denials, upstream failures). The body is JSON
// {"error": "<id>", "reason": "<text>"} and the X-Cloakroom-Error header names Cloakroom as the
// source, so an agent can tell a gateway refusal from the upstream API's own errors.
//
// Error ids in use (short snake-case, stable):
//   400 bad_request          malformed request or proxy target
//   401 token_invalid        token undecodable, bad signature, unknown key, expired/not yet valid
//   401 token_required       strict mode and no token
//   403 host_not_configured  host is neither a service nor an [allow] host
//   403 rule_denied          a service method/path rule forbids the request
//   403 token_forbidden      valid token, but one of its caveats forbids the request
//   403 no_credential        valid token for a service that has no credential to inject
//   403 https_required       plain-http request to a host that has a credential
//   403 address_forbidden    upstream resolves to a private/metadata address
//   421 misdirected_request  Host header differs from the connection's target
//   502 upstream_unreachable / upstream_tls_failed, 504 upstream_timeout
// The reason must never contain a secret or token; callers pass texts built for the agent.
#pragma once

#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace cloakroom::proxy {

inline constexpr std::string_view kErrorHeader = "X-Cloakroom-Error";

// `version` is 10 or 11 (the request's). keep_alive false adds "Connection: close".
// Content-Length is set; any reason bytes that are not valid UTF-8 are replaced (U+FFFD).
boost::beast::http::response<boost::beast::http::string_body> make_error_response(
    unsigned status, std::string_view error, std::string_view reason, unsigned version,
    bool keep_alive);

// The JSON body alone (also used for the CONNECT refusal, which has the same shape).
std::string error_body(std::string_view error, std::string_view reason);

}  // namespace cloakroom::proxy
