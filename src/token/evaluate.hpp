// Request checks for the caveats that survive signature verification (README §6), with
// Cloakroom's deliberate differences from agent-creds:
//   * APIPath patterns match the NORMALIZED path without the query string
//     (policy::normalize_target, then PathPattern::matches), the same path the gateway forwards
//     (docs/architecture.md, invariant 4). agent-creds matches the raw target with the query
//     attached. A target that fails normalization fails every path caveat, with the normalization
//     error.
//   * APIHost compares case-insensitively (ASCII lower-case on both sides): DNS names are
//     case-insensitive and Cloakroom routes by the connection target anyway. agent-creds
//     compares exactly. Ports follow token/host_caveat.hpp: "host:port" allows that port only,
//     a bare "host" never reaches a service keyed "host:port".
// Same as agent-creds: methods compare upper-cased, ValidityWindow is inclusive on both ends,
// several caveats of one kind must all allow, Attestation allows everything, unknown types (and
// 3P / BindToParentToken, should they ever be evaluated) deny.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "token/caveat.hpp"

namespace cloakroom::token {

struct AccessRequest {
    // The routed host. May also be written "host:port" when `port` is 0: then, as in agent-creds
    // (exact comparison), only an entry naming that port allows it. Without any port only bare
    // caveat entries can allow it.
    std::string host;
    std::string method;
    std::string path;  // raw request target as received ("/a/b?x=1")
    std::int64_t time_unix = 0;
    std::uint16_t port = 0;   // the routed port; 0 = not known
    bool port_keyed = false;  // the route's service is keyed "host:port" (RoutedHost)
};

// A login through a database gateway.
struct DbAccessRequest {
    std::string service;   // [[database]] name
    std::string login;     // login name (the client's user name)
    std::string database;  // database name asked for; "" when none (Redis, MySQL without one)
    std::string protocol;  // "postgres" | "mysql" | "redis" (DbCommands needs "redis")
    std::int64_t time_unix = 0;
};

// One readable reason per caveat that denies the request, in caveat order (empty = allowed).
// Every caveat must allow; a caveat of the other kind denies (an HTTP request against a token
// with DbServices, a database login against one with APIHost), so attenuating towards one kind
// of access never widens the other.
std::vector<std::string> evaluate_caveats(const std::vector<Caveat>& caveats,
                                          const AccessRequest& request);
// Database logins: ValidityWindow as for HTTP; DbServices/DbLogins/DbNames compare exactly;
// DbCommands allows here when the protocol is "redis" (the session enforces it per command,
// see command_lists) and denies otherwise; Hosts/Methods/Paths deny.
std::vector<std::string> evaluate_caveats(const std::vector<Caveat>& caveats,
                                          const DbAccessRequest& request);

// The token's Limits caveats that limit something, duplicates dropped (an attenuation that
// repeats its parent's caveat adds nothing), in caveat order. Each is enforced on its own: all
// must admit a request.
std::vector<UsageLimits> usage_limits(const std::vector<Caveat>& caveats);

// When the token stops being valid: the earliest `not_after` of its ValidityWindow caveats (Unix
// seconds, inclusive), or nullopt for a token that never expires (no validity caveat).
std::optional<std::int64_t> expiry(const std::vector<Caveat>& caveats);

// Why the token's ValidityWindow caveats refuse time `time_unix` ("token only valid until ..."),
// or "" when they allow it: expiry is about the token itself, so callers answer it as "invalid
// token" (HTTP 401, database "wrong password") rather than as a forbidden request.
std::string validity_denial(const std::vector<Caveat>& caveats, std::int64_t time_unix);

// The DbCommands lists of a token, in caveat order (each must allow a command; a nil list is
// returned as an empty vector, which allows nothing).
std::vector<std::vector<std::string>> command_lists(const std::vector<Caveat>& caveats);

}  // namespace cloakroom::token
