// Finding the agent's Cloakroom token in a request, removing it before the request goes
// upstream, and the authorization decision (issue 3, decisions 5-7). Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "http/head.hpp"
#include "policy/request_path.hpp"
#include "runtime/revocation_store.hpp"
#include "token/caveat.hpp"
#include "token/host_caveat.hpp"
#include "token/keys.hpp"
#include "token/verify_cache.hpp"

namespace cloakroom::proxy {

struct FoundToken {
    std::string token;  // as presented: "acm_main" or "acm_main,acm_discharge..."
    enum Where {
        AuthorizationBearer,         // "Authorization: Bearer <tok>", "token <tok>", any other
                                     // scheme followed by a token, or a bare token
        AuthorizationBasicPassword,  // "Authorization: Basic b64(user:<tok>)" (git)
        AuthorizationBasicUser,      // "Authorization: Basic b64(<tok>:...)" (Stripe-style)
        ApiKeyHeader,                // the credential's own header (header/template types)
        QueryParam,                  // the credential's query parameter (query type)
        ProxyAuthorization,          // Proxy-Authorization (of the CONNECT, or of this request)
    } where = AuthorizationBearer;
    std::string name;  // header or parameter name where it was found
};

// Looks where the real credential would go, in this order: Authorization (Bearer, case-
// insensitive scheme; Basic password then Basic user; any other scheme, e.g. GitHub's "token";
// a bare token), the credential's header
// (type header: after its configured prefix; type template: between the template's text around
// {secret}), the credential's query parameter (type query; name and value percent-decoded), and
// finally `proxy_authorization` (Basic password/user, Bearer, or bare). Only values that start
// with `token_prefix` are tokens: anything else (e.g. an agent's own real key) means "no token",
// i.e. passthrough. `credential` may be null (inspected service without a credential: only
// Authorization and Proxy-Authorization are looked at). `query` is the raw query, no '?'.
std::optional<FoundToken> find_token(const http::Head& req, std::string_view query,
                                     const config::Credential* credential,
                                     std::string_view token_prefix,
                                     std::optional<std::string> proxy_authorization);

// Removes the token from where it was found: every field of that name whose value carries the
// token, or every query parameter of that name whose value is the token (other parameters stay
// byte-identical and in order; "" when nothing is left). Always removes Proxy-Authorization and
// Proxy-Connection, which are for Cloakroom and never for the upstream.
void strip_token(http::Head& req, std::string& query, const FoundToken& found);

// Removes Proxy-Authorization and Proxy-Connection (every request, token or not).
void strip_proxy_headers(http::Head& req);

struct AuthDecision {
    unsigned status = 0;   // 0 = go ahead (Inject or Passthrough); else the HTTP error status
    std::string error;     // error id for make_error_response ("" when allowed)
    std::string reason;    // for the agent and the audit record; never a token or secret
    std::string token_id;  // hex id of a token that decoded (also on denials), else ""
    enum Kind { Inject, Passthrough, Reject } kind = Reject;
    std::optional<std::int64_t> minted = {};  // the allowed token's mint time (runtime::mint_time)
    std::vector<token::UsageLimits> usage_limits = {};  // its Limits caveats (Inject only)
    std::optional<std::int64_t> expires = {};           // its expiry (token::expiry; Inject only)
};

// Decisions in order:
//   1. service rules (method + normalized path), token or not   -> 403 rule_denied
//   2. no token: strict -> 401 token_required; else Passthrough (request forwarded unchanged,
//      minus Proxy-* headers)
//   3. token fails at stage access/header/decode/signature      -> 401 token_invalid
//   4. token's validity window fails (expired or not yet valid) -> 401 token_invalid
//      (agent-creds answers 401 for expiry too: the token itself is no longer good, no change of
//      request would help; the reason says "expired")
//   5. any other caveat forbids (host, method, path, 3P, unknown) -> 403 token_forbidden
//   6. valid, but the service has no credential                -> 403 no_credential
//   7. otherwise Inject.
// `routed` is the routed connection target (Route::token_host(): host, port, and whether the
// service is keyed by that port), never a Host header: the token's host caveat is checked
// against where the request really goes, port included (token/host_caveat.hpp). `target.path` is
// the normalized path, the one forwarded upstream. `config` supplies the token format (prefix,
// location); `strict` is the effective strict mode. `verify_cache` (nullptr = none) must belong
// to the same runtime snapshot as `keys` (Runtime::verify_cache).
AuthDecision authorize(const config::Config& config, const config::Service& service,
                       const token::RoutedHost& routed, const http::Head& req,
                       const policy::NormalizedTarget& target,
                       const std::optional<FoundToken>& found, const token::KeyStore& keys,
                       std::int64_t now, bool strict, token::VerifyCache* verify_cache,
                       const runtime::Revocations* revocations = nullptr);

// Query helpers shared with injection (kept here so both edit queries the same way).
namespace query {
// Percent-decodes (%XX only; '+' stays '+'). Invalid escapes are kept as written.
std::string decode(std::string_view text);
// Removes every "&"-separated parameter whose decoded name equals `name` and, when `value` is
// given, whose decoded value equals it. Other parameters keep their bytes and order.
void remove_param(std::string& query, std::string_view name,
                  std::optional<std::string_view> value = std::nullopt);
}  // namespace query

}  // namespace cloakroom::proxy
