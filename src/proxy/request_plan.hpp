// The decision for one HTTP request, made before a byte goes upstream, for every front end
// alike. Three steps (docs/architecture.md, "Life of a request"):
//   plan_request()  pure: reads the head and the connection's target, returns a Refusal or a
//                   RequestPlan. Order: route denied → TLS name ≠ target (421) → Host ≠ target
//                   (421) → path not normalizable (400) → [allow] host: plain forward → no
//                   service (403) → service rules and token (authorize).
//   prepare_credential() + attach_credential()  I/O: every secret of the service resolved
//                   (502 credential_unavailable), the one step that may block (exec: helpers),
//                   so the pipeline runs it off the event loop when it may.
//   apply_plan()    rewrites the head; cannot fail.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "http/head.hpp"
#include "proxy/gateway.hpp"
#include "proxy/injection_cache.hpp"
#include "proxy/request_auth.hpp"
#include "proxy/target.hpp"
#include "runtime/refusal.hpp"

namespace cloakroom::proxy {

using runtime::Refusal;

struct RequestPlan {
    enum class Mode {
        Inject,       // a valid token: the credential replaces it
        Passthrough,  // no token (not strict): sent without a credential
        Plain,        // an [allow] host by absolute-form http://: checked, forwarded, no token
    } mode = Mode::Passthrough;

    const config::Service* service = nullptr;      // null for Plain
    std::string token_id;                          // of a token that decoded, else ""
    std::optional<std::int64_t> token_minted;      // the allowed token's mint time (revocation)
    std::vector<token::UsageLimits> usage_limits;  // the allowed token's Limits caveats
    std::optional<std::int64_t> token_expires;     // its expiry (token::expiry; budgets' TTL)
    std::string reason;                            // for the audit record
    std::string path;                              // normalized: what was checked and is sent
    std::string query;                             // the raw query, token removed by apply_plan
    bool has_query = false;
    std::optional<FoundToken> token;  // where the agent's token is, to be removed

    // The service's credential, whose secrets attach_credential() must add before the plan is
    // applied; null for Plain and for services without one.
    const config::Credential* credential = nullptr;
    // What to inject (Inject only), and the response policy: the service's secrets in every
    // encoding, redacted from the whole response whatever this request carried (an upstream
    // may echo a credential an earlier request sent). Null when the service has no credential.
    std::shared_ptr<const PreparedInjection> injection;
    std::shared_ptr<const PreparedInjection> redaction;

    // The upstream leg.
    std::string upstream_host;
    std::uint16_t upstream_port = 0;
    bool upstream_tls = true;  // false only for Plain
    // A WebSocket opening handshake (http/websocket.hpp): the upgrade is forwarded, and a 101
    // answer turns the exchange into a relay (websocket_relay.hpp).
    bool websocket = false;

    bool redacts() const { return redaction && !redaction->needles.empty(); }
};

using PlanOutcome = std::variant<RequestPlan, Refusal>;

// What a refused plan had established, for its audit record: the token id of a token that
// decoded (a revoked or forbidden token is audited under its id) and the normalized path.
struct RefusalFacts {
    std::string token_id;
    std::string path;
};

// `runtime` is the snapshot the request runs under. `now` is Unix seconds, for the token's
// validity window. `facts` (may be null) is filled on a refusal. No I/O.
PlanOutcome plan_request(const Runtime& runtime, const Target& target, const http::Head& request,
                         std::int64_t now, RefusalFacts* facts = nullptr);

// Every secret of `credential` resolved and its values built, or why not (a 502 refusal naming
// the secret reference, never a value). `runtime` owns the cached injection plans.
using PreparedCredential = std::variant<std::shared_ptr<const PreparedInjection>, Refusal>;
PreparedCredential prepare_credential(const std::shared_ptr<const Runtime>& runtime,
                                      const config::Credential& credential);

// Whether resolving `credential` may block for long (an exec: helper runs a process), so that
// prepare_credential must not run on an event-loop thread.
bool prepares_slowly(const config::Credential& credential);

// Adds the prepared secrets to the plan (redaction always, injection in Inject mode). A service
// whose secret cannot be loaded is refused even without a token: its responses could not be
// redacted. Returns the refusal, or nothing when the plan may go ahead.
std::optional<Refusal> attach_credential(RequestPlan& plan, PreparedCredential prepared);

// Rewrites the head as planned: the token and Proxy-* fields out, the credential in, hop-by-hop
// fields and Expect out, when redacting only the content codings Cloakroom decodes (identity
// for a range request), the normalized target, Host naming the upstream, keep-alive towards pooled
// upstreams. Cannot fail: everything that could was decided by plan_request.
void apply_plan(const RequestPlan& plan, http::Head& request);

}  // namespace cloakroom::proxy
