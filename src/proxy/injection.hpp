// Staged credential injection: plan_injection() resolves every secret and builds every value
// first (the only step that can fail); apply_injection() then edits the request and cannot
// fail. So a secret error leaves the request untouched, never half-injected (issue 3).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/model.hpp"
#include "http/head.hpp"
#include "secrets/resolver.hpp"
#include "secrets/secret_value.hpp"
#include "util/result.hpp"

namespace cloakroom::proxy {

struct InjectionPlan {
    // Header values hold the secret: the destructor wipes them (best effort; Beast's copy in
    // the request is the caller's to drop when the request is done).
    std::vector<std::pair<std::string, std::string>> set_headers;  // replace all of that name
    std::vector<std::string> remove_headers;
    std::optional<std::pair<std::string, std::string>> set_query_param;  // value percent-encoded
    // Every form of the secret that goes on the wire (raw, base64 Basic pair, percent-encoded,
    // full header value), and the forms an upstream's echo may turn them into (echo_forms: the
    // secret and the base64 pair percent-encoded, upper or lower-case hex; the base64 pair
    // without its padding), deduplicated and non-empty: the response redactor's needles.
    std::vector<secrets::SecretValue> values_to_redact;

    InjectionPlan() = default;
    InjectionPlan(InjectionPlan&&) = default;
    InjectionPlan& operator=(InjectionPlan&&) = default;
    InjectionPlan(const InjectionPlan&) = delete;
    InjectionPlan& operator=(const InjectionPlan&) = delete;
    ~InjectionPlan();
};

// Errors: code "inject.secret" naming the service's reference ("env:STRIPE_KEY") and the
// resolver's error (which never holds a value), or a secret a header credential cannot carry
// (header_secret_problem); "inject.config" for a credential the loader should have refused (no
// secret reference, template without {secret}).
Result<InjectionPlan> plan_injection(const config::Credential& credential,
                                     const secrets::SecretResolver& resolver);

// plan_injection in its two stages, for a caller that reuses plans (injection_cache.hpp):
// every secret the credential needs, resolved ("inject.secret" errors) ...
struct InjectionSecrets {
    std::optional<secrets::SecretValue> secret;
    std::optional<secrets::SecretValue> username_secret;  // Basic with username_secret only
    bool same_as(const InjectionSecrets& other) const;
};
Result<InjectionSecrets> resolve_injection_secrets(const config::Credential& credential,
                                                   const secrets::SecretResolver& resolver);
// ... and the values built from them ("inject.config" errors).
Result<InjectionPlan> build_injection_plan(const config::Credential& credential,
                                           const InjectionSecrets& resolved);

// Removes remove_headers, sets set_headers (replacing every field of that name, so an agent's
// own value cannot ride along), and sets the query parameter (every existing parameter of that
// name is dropped, others keep their bytes and order, the new one is appended).
void apply_injection(http::Head& req, std::string& query, const InjectionPlan& plan);

// RFC 3986 percent-encoding of everything but unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string percent_encode(std::string_view bytes);

// `value` as an upstream may echo it: as is, and percent-encoded the ways common encoders do
// (everything but unreserved; also keeping '/' as Python's quote() does; space as '+' as form
// encoding does; keeping '/', ':' and '@'), each with upper and lower-case hex. Distinct,
// non-empty (none when `value` is empty).
std::vector<std::string> echo_forms(std::string_view value);

// Why a secret value cannot go into a credential of `type`, or nullopt: bearer, basic, header
// and template credentials carry it in a header (basic inside the base64 pair, whose user name
// and password RFC 7617 keeps free of control characters), so any control byte (0x00-0x1F,
// 0x7F) is refused; a query credential is percent-encoded and takes any byte. The reason names
// `ref` and the byte offset, never the value. plan_injection() refuses with it; `secrets check`
// can call it too when it knows the credential type.
std::optional<std::string> header_secret_problem(config::CredentialType type,
                                                 const secrets::SecretRef& ref,
                                                 std::string_view value);

}  // namespace cloakroom::proxy
