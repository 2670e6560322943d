#include "proxy/request_auth.hpp"

#include <vector>

#include "runtime/access.hpp"
#include "token/evaluate.hpp"
#include "token/token.hpp"
#include "util/base64.hpp"

namespace cloakroom::proxy {
namespace {

constexpr std::string_view kAuthorization = "Authorization";

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool is_token(std::string_view value, std::string_view prefix) {
    return !prefix.empty() && value.size() > prefix.size() && value.starts_with(prefix);
}

// An RFC 9110 auth-scheme: a token (tchar+).
bool is_auth_scheme(std::string_view scheme) {
    if (scheme.empty()) return false;
    for (char c : scheme) {
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
            return false;
        }
    }
    return true;
}

// "<scheme> <rest>" with a case-insensitive scheme (RFC 9110 §11.1); nullopt for another scheme.
std::optional<std::string_view> after_scheme(std::string_view value, std::string_view scheme) {
    if (value.size() <= scheme.size() || !iequals(value.substr(0, scheme.size()), scheme)) {
        return std::nullopt;
    }
    const char separator = value[scheme.size()];
    if (separator != ' ' && separator != '\t') return std::nullopt;
    return trim(value.substr(scheme.size() + 1));
}

// A token in one Authorization-style value: Bearer, Basic (password first: git and most HTTP
// libraries put the secret there; then user, as Stripe-style clients do), or a bare token.
std::optional<FoundToken> token_in_authorization(std::string_view raw, std::string_view prefix,
                                                 FoundToken::Where bearer_where,
                                                 std::string_view name) {
    const std::string_view value = trim(raw);
    auto found = [&](std::string_view token, FoundToken::Where where) {
        return FoundToken{std::string(token), where, std::string(name)};
    };
    if (auto bearer = after_scheme(value, "Bearer")) {
        if (is_token(*bearer, prefix)) return found(*bearer, bearer_where);
        return std::nullopt;
    }
    if (auto basic = after_scheme(value, "Basic")) {
        auto decoded = base64_decode(*basic);
        if (!decoded.ok()) return std::nullopt;
        const std::string& pair = *decoded;
        const std::size_t colon = pair.find(':');
        const std::string_view user = std::string_view(pair).substr(0, colon);
        const std::string_view password = colon == std::string::npos
                                              ? std::string_view()
                                              : std::string_view(pair).substr(colon + 1);
        const bool proxy = bearer_where == FoundToken::ProxyAuthorization;
        if (is_token(password, prefix)) {
            return found(password, proxy ? bearer_where : FoundToken::AuthorizationBasicPassword);
        }
        if (is_token(user, prefix)) {
            return found(user, proxy ? bearer_where : FoundToken::AuthorizationBasicUser);
        }
        return std::nullopt;
    }
    // Any other scheme whose credential is a Cloakroom token is bearer-like: clients send the
    // same API key under the scheme their API documents ("token" from gh, octokit and PyGithub,
    // "Token" from Django REST framework clients, "Bot" for Discord, "OAuth", "Key", ...). The
    // token is removed whatever the scheme, so it never reaches the upstream; the credential is
    // then injected as the service's credential says (what the upstream expects).
    if (auto scheme_end = value.find_first_of(" \t"); scheme_end != std::string_view::npos) {
        const std::string_view scheme = value.substr(0, scheme_end);
        const std::string_view credential = trim(value.substr(scheme_end + 1));
        if (is_auth_scheme(scheme) && is_token(credential, prefix)) {
            return found(credential, bearer_where);
        }
    }
    if (is_token(value, prefix)) return found(value, bearer_where);
    return std::nullopt;
}

// The token in the credential's own header: what the agent put where the secret would go.
std::optional<std::string_view> token_in_credential_header(std::string_view raw,
                                                           const config::Credential& credential,
                                                           std::string_view prefix) {
    const std::string_view value = trim(raw);
    if (credential.type == config::CredentialType::Header && !credential.prefix.empty() &&
        value.starts_with(credential.prefix)) {
        const std::string_view rest = value.substr(credential.prefix.size());
        if (is_token(rest, prefix)) return rest;
    }
    if (credential.type == config::CredentialType::Template) {
        const std::size_t at = credential.template_text.find("{secret}");
        if (at != std::string::npos) {
            const std::string_view before =
                std::string_view(credential.template_text).substr(0, at);
            const std::string_view after =
                std::string_view(credential.template_text).substr(at + 8);
            if (value.size() > before.size() + after.size() && value.starts_with(before) &&
                value.ends_with(after)) {
                const std::string_view middle =
                    value.substr(before.size(), value.size() - before.size() - after.size());
                if (is_token(middle, prefix)) return middle;
            }
        }
    }
    if (is_token(value, prefix)) return value;
    return std::nullopt;
}

// Calls fn(name, value) for each "&"-separated parameter, raw (undecoded).
template <class Fn>
void for_each_param(std::string_view query, Fn fn) {
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view param = query.substr(start, end - start);
        const std::size_t eq = param.find('=');
        fn(param.substr(0, eq),
           eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1), start, end);
        start = end + 1;
    }
}

// Whether a header value holds `token`, directly or inside a Basic user:password pair.
bool carries_token(std::string_view raw, std::string_view token) {
    const std::string_view value = trim(raw);
    if (value.find(token) != std::string_view::npos) return true;
    auto basic = after_scheme(value, "Basic");
    if (!basic) return false;
    auto decoded = base64_decode(*basic);
    if (!decoded.ok()) return false;
    const std::string_view pair = *decoded;
    const std::size_t colon = pair.find(':');
    return pair.substr(0, colon) == token ||
           (colon != std::string_view::npos && pair.substr(colon + 1) == token);
}

AuthDecision reject(unsigned status, std::string error, std::string reason,
                    std::string token_id = {}) {
    return AuthDecision{status, std::move(error), std::move(reason), std::move(token_id),
                        AuthDecision::Reject};
}

}  // namespace

namespace query {

std::string decode(std::string_view text) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int hi = hex(text[i + 1]);
            const int lo = hex(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(text[i]);
    }
    return out;
}

void remove_param(std::string& query, std::string_view name,
                  std::optional<std::string_view> value) {
    // Collect the kept parameters' byte ranges, then rebuild: the kept text is copied verbatim.
    std::vector<std::pair<std::size_t, std::size_t>> kept;
    bool removed = false;
    for_each_param(query, [&](std::string_view param_name, std::string_view param_value,
                              std::size_t start, std::size_t end) {
        const bool match = decode(param_name) == name && (!value || decode(param_value) == *value);
        if (match) {
            removed = true;
        } else {
            kept.emplace_back(start, end);
        }
    });
    if (!removed) return;
    std::string rebuilt;
    rebuilt.reserve(query.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
        if (i > 0) rebuilt.push_back('&');
        rebuilt.append(query, kept[i].first, kept[i].second - kept[i].first);
    }
    query = std::move(rebuilt);
}

}  // namespace query

std::optional<FoundToken> find_token(const http::Head& req, std::string_view query,
                                     const config::Credential* credential,
                                     std::string_view token_prefix,
                                     std::optional<std::string> proxy_authorization) {
    if (token_prefix.empty()) return std::nullopt;
    for (const http::HeadField& field : req.fields()) {
        if (!iequals(field.name, kAuthorization)) continue;
        if (auto found = token_in_authorization(field.value, token_prefix,
                                                FoundToken::AuthorizationBearer, kAuthorization)) {
            return found;
        }
    }
    if (credential != nullptr) {
        const bool has_header = credential->type == config::CredentialType::Header ||
                                credential->type == config::CredentialType::Template;
        if (has_header && !credential->header.empty()) {
            for (const http::HeadField& field : req.fields()) {
                if (!iequals(field.name, credential->header)) continue;
                if (auto token =
                        token_in_credential_header(field.value, *credential, token_prefix)) {
                    return FoundToken{std::string(*token), FoundToken::ApiKeyHeader,
                                      credential->header};
                }
            }
        }
        if (credential->type == config::CredentialType::Query && !credential->param.empty()) {
            std::optional<FoundToken> found;
            for_each_param(query, [&](std::string_view name, std::string_view value, std::size_t,
                                      std::size_t) {
                if (found || query::decode(name) != credential->param) return;
                std::string decoded = query::decode(value);
                if (is_token(decoded, token_prefix)) {
                    found =
                        FoundToken{std::move(decoded), FoundToken::QueryParam, credential->param};
                }
            });
            if (found) return found;
        }
    }
    if (proxy_authorization) {
        return token_in_authorization(*proxy_authorization, token_prefix,
                                      FoundToken::ProxyAuthorization, "Proxy-Authorization");
    }
    return std::nullopt;
}

void strip_proxy_headers(http::Head& req) {
    req.erase("Proxy-Authorization");
    req.erase("Proxy-Connection");
}

void strip_token(http::Head& req, std::string& query, const FoundToken& found) {
    switch (found.where) {
        case FoundToken::AuthorizationBearer:
        case FoundToken::AuthorizationBasicPassword:
        case FoundToken::AuthorizationBasicUser:
        case FoundToken::ApiKeyHeader: {
            // Only fields that carry this token (a Basic value holds it base64-encoded); other
            // fields of the same name are the agent's business.
            req.erase_if([&](const http::HeadField& field) {
                return iequals(field.name, found.name) && carries_token(field.value, found.token);
            });
            break;
        }
        case FoundToken::QueryParam:
            query::remove_param(query, found.name, found.token);
            break;
        case FoundToken::ProxyAuthorization:
            break;  // removed below with the other proxy headers
    }
    strip_proxy_headers(req);
}

AuthDecision authorize(const config::Config& config, const config::Service& service,
                       const token::RoutedHost& routed, const http::Head& req,
                       const policy::NormalizedTarget& target,
                       const std::optional<FoundToken>& found, const token::KeyStore& keys,
                       std::int64_t now, bool strict, token::VerifyCache* verify_cache,
                       const runtime::Revocations* revocations) {
    const std::string_view method = req.method();

    // 5. Service rules bind every request, with or without a token (invariant 5).
    const policy::RuleDecision rules = service.rules.evaluate(method, target.path);
    if (!rules.allowed) {
        return reject(403, "rule_denied",
                      "service '" + service.name + "' does not allow " + std::string(method) + " " +
                          target.path + ": " + rules.reason);
    }

    // 7. No token: passthrough unless strict.
    if (!found) {
        if (strict) {
            return reject(401, "token_required",
                          "a Cloakroom token is required for " + routed.host +
                              " (strict mode); send it where the API key would go, e.g. "
                              "'Authorization: Bearer " +
                              config.token.prefix + "...'");
        }
        return AuthDecision{
            0, {}, "no token: passed through without a credential", {}, AuthDecision::Passthrough};
    }

    // 6. Verify against the routed host and the normalized path: exactly what goes upstream.
    token::AccessRequest access{routed.host, std::string(method), target.path, now};
    access.port = routed.port;
    access.port_keyed = routed.port_keyed;
    const runtime::AccessContext context{
        keys, token::TokenFormat{config.token.prefix, config.token.location}, verify_cache,
        revocations};
    const runtime::AccessDecision decision = runtime::decide_access(found->token, access, context);
    using Verdict = runtime::AccessDecision::Verdict;
    switch (decision.verdict) {
        case Verdict::Invalid:
            return reject(401, "token_invalid",
                          "the Cloakroom token is not valid (" + std::string(decision.stage) +
                              "): " + decision.detail + "; ask for a new token",
                          decision.token_id);
        case Verdict::Expired:
            // About the token, not the request: 401 like agent-creds.
            return reject(401, "token_invalid",
                          "the Cloakroom token has expired or is not valid yet: " +
                              decision.detail + "; ask for a new token",
                          decision.token_id);
        case Verdict::Revoked:
            // About the token itself: no change of the request would help.
            return reject(401, "token_revoked",
                          "the Cloakroom token has been revoked: " + decision.detail +
                              "; ask for a new token",
                          decision.token_id);
        case Verdict::Unavailable:
            // Not about the token: the gateway cannot vouch for it now; another may.
            return reject(503, "fleet_stale",
                          "Cloakroom cannot check this token now: " + decision.detail,
                          decision.token_id);
        case Verdict::Forbidden:
            return reject(403, "token_forbidden",
                          "the Cloakroom token does not allow " + std::string(method) + " " +
                              routed.host + target.path + ": " + decision.detail,
                          decision.token_id);
        case Verdict::Ok:
            break;
    }

    if (!service.credential) {
        return reject(403, "no_credential",
                      "no credentials configured for this host (" + routed.host + ", service '" +
                          service.name + "'); send the request without a Cloakroom token",
                      decision.token_id);
    }
    return AuthDecision{0,
                        {},
                        "token allowed",
                        decision.token_id,
                        AuthDecision::Inject,
                        decision.minted,
                        token::usage_limits(decision.caveats),
                        token::expiry(decision.caveats)};
}

}  // namespace cloakroom::proxy
