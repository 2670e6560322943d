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
    // full header value), deduplicated and non-empty: the response redactor's needles.
    std::vector<secrets::SecretValue> values_to_redact;

    InjectionPlan() = default;
    InjectionPlan(InjectionPlan&&) = default;
    InjectionPlan& operator=(InjectionPlan&&) = default;
    InjectionPlan(const InjectionPlan&) = delete;
    InjectionPlan& operator=(const InjectionPlan&) = delete;
    ~InjectionPlan();
};

// Errors: code "inject.secret" naming the service's reference ("env:STRIPE_KEY") and the
// resolver's error (which never holds a value); "inject.config" for a credential the loader
// should have refused (no secret reference, template without {secret}).
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

}  // namespace cloakroom::proxy
