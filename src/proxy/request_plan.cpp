#include "proxy/request_plan.hpp"

#include "http/websocket.hpp"

#include "http/content_decoder.hpp"
#include "http/hop_by_hop.hpp"
#include "policy/request_path.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy {
namespace {

// Splits an absolute-form target ("http://h/p?q") into its origin-form part ("/p?q").
std::string_view origin_form(std::string_view target) {
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return target;
    const auto path_start = target.find_first_of("/?", scheme_end + 3);
    if (path_start == std::string_view::npos) return "/";
    return target.substr(path_start);  // "http://h?q" → "?q": refused by normalization
}

}  // namespace

PlanOutcome plan_request(const Runtime& runtime, const Target& target, const http::Head& request,
                         std::int64_t now, RefusalFacts* facts) {
    const Route& route = target.route;
    if (route.kind == RouteKind::Deny) return Refusal{route.status, route.error, route.reason};

    // Invariant 2: the request is for the host the connection was opened to.
    if (target.tls_server_name && !ascii_iequals(*target.tls_server_name, route.host)) {
        return Refusal{421, "misdirected_request",
                       "TLS server name does not match the CONNECT target '" + route.host + "'"};
    }
    if (target.checks_host_header()) {
        if (auto mismatch = check_host_header(route, request["Host"])) {
            return Refusal{421, "misdirected_request", std::move(*mismatch)};
        }
    }

    // Invariant 4: the path every rule and caveat sees is exactly the one sent upstream.
    const std::string_view raw =
        target.absolute_form() ? origin_form(request.target()) : request.target();
    auto normalized = policy::normalize_target(raw);
    if (!normalized.ok()) return Refusal{400, "bad_request", normalized.error().message};

    RequestPlan plan;
    plan.path = std::move(normalized->path);
    plan.query = std::move(normalized->query);
    plan.has_query = normalized->has_query;
    plan.upstream_host = route.host;
    plan.upstream_port = target.upstream_port != 0 ? target.upstream_port : route.port;
    plan.websocket = http::is_websocket_upgrade(request);

    if (route.kind == RouteKind::Tunnel) {
        // An [allow] host reached by absolute-form http://: no token, no credential.
        plan.mode = RequestPlan::Mode::Plain;
        plan.upstream_tls = false;
        plan.reason = route.reason;
        return plan;
    }
    if (route.service == nullptr) {
        return Refusal{403, "host_not_configured",
                       "host '" + route.host + "' is not configured in Cloakroom"};
    }
    const config::Service& service = *route.service;
    const config::Credential* credential = service.credential ? &*service.credential : nullptr;
    plan.service = &service;

    // Invariants 2 and 5: service rules, then the token, against the routed host.
    const policy::NormalizedTarget checked{plan.path, plan.query, plan.has_query};
    plan.token = find_token(request, plan.query, credential, runtime.config.token.prefix,
                            target.proxy_authorization);
    AuthDecision decision = authorize(runtime.config, service, route.token_host(), request, checked,
                                      plan.token, runtime.keys, now, runtime.config.gateway.strict,
                                      runtime.verify_cache.get(), runtime.revocations.get());
    plan.token_id = std::move(decision.token_id);
    plan.token_minted = decision.minted;
    plan.usage_limits = std::move(decision.usage_limits);
    plan.token_expires = decision.expires;
    if (decision.kind == AuthDecision::Reject) {
        if (facts != nullptr) {
            facts->token_id = plan.token_id;
            facts->path = plan.path;
        }
        return Refusal{decision.status, std::move(decision.error), std::move(decision.reason)};
    }
    plan.reason = std::move(decision.reason);
    plan.mode = decision.kind == AuthDecision::Inject ? RequestPlan::Mode::Inject
                                                      : RequestPlan::Mode::Passthrough;

    plan.credential = credential;
    return plan;
}

PreparedCredential prepare_credential(const std::shared_ptr<const Runtime>& runtime,
                                      const config::Credential& credential) {
    auto prepared = prepare_injection(runtime, credential, *runtime->resolver);
    if (!prepared.ok()) {
        return Refusal{
            502, "credential_unavailable",
            "the credential for this host cannot be loaded: " + prepared.error().message};
    }
    return std::move(*prepared);
}

bool prepares_slowly(const config::Credential& credential) {
    const auto slow = [](const std::optional<secrets::SecretRef>& ref) {
        return ref && ref->provider == secrets::Provider::Exec;
    };
    return slow(credential.secret) || slow(credential.username_secret);
}

std::optional<Refusal> attach_credential(RequestPlan& plan, PreparedCredential prepared) {
    if (auto* refusal = std::get_if<Refusal>(&prepared)) return std::move(*refusal);
    // Every secret resolved before the request is touched (never half-injected); the same
    // values are the response's redaction needles, with or without injection (invariant 1).
    plan.redaction = std::move(std::get<std::shared_ptr<const PreparedInjection>>(prepared));
    if (plan.mode == RequestPlan::Mode::Inject) plan.injection = plan.redaction;
    return std::nullopt;
}

void apply_plan(const RequestPlan& plan, http::Head& request) {
    std::string query = plan.query;
    if (plan.token) strip_token(request, query, *plan.token);
    strip_proxy_headers(request);
    if (plan.injection) apply_injection(request, query, plan.injection->plan);
    http::remove_hop_by_hop(request);
    request.erase("Expect");  // answered by Cloakroom itself (100 Continue)
    if (plan.websocket) {
        // The upgrade survives the hop-by-hop rules; no extension is offered, since a
        // compressed frame (permessage-deflate) would hide an echoed secret from redaction.
        request.erase("Sec-WebSocket-Extensions");
    }
    // Redaction needs the response body as bytes: only the codings Cloakroom decodes are asked
    // for (response_filter.hpp), and none for a range request (a range of a compressed body
    // cannot be decoded alone).
    if (plan.redacts()) {
        const std::string narrowed = http::decodable_accept_encoding(
            request.find("Accept-Encoding"), request.find("Range").has_value());
        request.set("Accept-Encoding", narrowed);
        // gRPC compresses per message (grpc-encoding); such a message cannot be redacted, so the
        // upstream is asked for none (response_filter.hpp refuses one it sends anyway).
        if (request.find("grpc-accept-encoding")) request.set("grpc-accept-encoding", "identity");
    }

    std::string target = plan.path;
    if (!query.empty() || plan.has_query) {
        target += '?';
        target += query;
    }
    request.set_target(target);
    const std::uint16_t default_port = plan.upstream_tls ? 443 : 80;
    if (plan.upstream_port == default_port) {
        request.set("Host", plan.upstream_host);
    } else if (plan.upstream_host.find(':') != std::string::npos) {
        request.set("Host", "[" + plan.upstream_host + "]:" + std::to_string(plan.upstream_port));
    } else {
        request.set("Host", plan.upstream_host + ":" + std::to_string(plan.upstream_port));
    }
    // Pooled TLS upstreams stay open; plain forwards to [allow] hosts close after each response.
    request.set_keep_alive(plan.upstream_tls);
    if (plan.websocket) {
        request.set("Connection", "Upgrade");
        request.set("Upgrade", "websocket");
    }
}

}  // namespace cloakroom::proxy
