#include "proxy/injection.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "proxy/request_auth.hpp"
#include "secrets/encoded_forms.hpp"
#include "util/base64.hpp"

namespace cloakroom::proxy {
namespace {

void wipe(std::string& text) {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
    text.clear();
}

// An intermediate string holding secret bytes, wiped on every exit path.
struct Wiped {
    std::string text;
    Wiped() = default;
    Wiped(const Wiped&) = delete;
    Wiped& operator=(const Wiped&) = delete;
    ~Wiped() { wipe(text); }
};

Error secret_error(const secrets::SecretRef& ref, const Error& cause) {
    return make_error("inject.secret",
                      "cannot resolve credential secret '" + ref.text() + "': " + cause.message);
}

void add_needle(std::vector<secrets::SecretValue>& needles, std::string_view value) {
    if (value.empty()) return;
    for (const auto& existing : needles) {
        if (existing.reveal() == value) return;
    }
    needles.emplace_back(std::string(value));
}

// `value` and every form an echo may turn it into (secrets/encoded_forms.hpp), as needles.
void add_echo_needles(std::vector<secrets::SecretValue>& needles, std::string_view value) {
    std::vector<std::string> forms = secrets::redaction_forms(value);
    for (std::string& form : forms) add_needle(needles, form);
    secrets::wipe_forms(forms);
}

bool is_control(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7F;
}

}  // namespace

std::vector<std::string> echo_forms(std::string_view value) {
    return secrets::percent_forms(value);
}

std::optional<std::string> header_secret_problem(config::CredentialType type,
                                                 const secrets::SecretRef& ref,
                                                 std::string_view value) {
    // A query parameter is percent-encoded: any byte is safe there.
    if (type == config::CredentialType::Query) return std::nullopt;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (!is_control(value[i])) continue;
        // The offset, never the byte or anything around it.
        return "credential secret '" + ref.text() + "' has a control character at byte " +
               std::to_string(i) + ", which a " + std::string(config::to_string(type)) +
               " credential cannot carry (header values and Basic user names and passwords "
               "exclude control characters: RFC 9110 section 5.5, RFC 7617 section 2)";
    }
    return std::nullopt;
}

InjectionPlan::~InjectionPlan() {
    for (auto& [name, value] : set_headers) wipe(value);
    if (set_query_param) wipe(set_query_param->second);
}

std::string percent_encode(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size());
    for (const char c : bytes) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~';
        if (unreserved) {
            out.push_back(c);
        } else {
            const auto byte = static_cast<unsigned char>(c);
            out.push_back('%');
            out.push_back(kHex[byte >> 4]);
            out.push_back(kHex[byte & 0x0F]);
        }
    }
    return out;
}

bool InjectionSecrets::same_as(const InjectionSecrets& other) const {
    const auto same = [](const std::optional<secrets::SecretValue>& a,
                         const std::optional<secrets::SecretValue>& b) {
        return a.has_value() == b.has_value() && (!a || a->reveal() == b->reveal());
    };
    return same(secret, other.secret) && same(username_secret, other.username_secret);
}

Result<InjectionSecrets> resolve_injection_secrets(const config::Credential& credential,
                                                   const secrets::SecretResolver& resolver) {
    InjectionSecrets resolved;
    if (credential.secret) {
        auto value = resolver.resolve(*credential.secret);
        if (!value.ok()) return secret_error(*credential.secret, value.error());
        resolved.secret = std::move(*value);
    }
    if (credential.type == config::CredentialType::Basic && credential.username_secret) {
        auto value = resolver.resolve(*credential.username_secret);
        if (!value.ok()) return secret_error(*credential.username_secret, value.error());
        resolved.username_secret = std::move(*value);
    }
    return resolved;
}

Result<InjectionPlan> plan_injection(const config::Credential& credential,
                                     const secrets::SecretResolver& resolver) {
    // Stage 1: resolve every secret. Nothing is built until all of them are in hand.
    auto resolved = resolve_injection_secrets(credential, resolver);
    if (!resolved.ok()) return resolved.error();
    return build_injection_plan(credential, *resolved);
}

Result<InjectionPlan> build_injection_plan(const config::Credential& credential,
                                           const InjectionSecrets& resolved) {
    const std::optional<secrets::SecretValue>& secret = resolved.secret;
    const std::optional<secrets::SecretValue>& username_secret = resolved.username_secret;
    if (!secret && credential.type != config::CredentialType::Basic) {
        return make_error("inject.config", "credential of type " +
                                               std::string(config::to_string(credential.type)) +
                                               " has no secret reference");
    }
    const std::string_view raw = secret ? secret->reveal() : std::string_view();
    // A control byte would be relayed verbatim into a header (or a Basic pair the upstream
    // decodes): refused before anything is built, naming the reference, never the value.
    if (secret) {
        if (auto problem = header_secret_problem(credential.type, *credential.secret, raw)) {
            return make_error("inject.secret", *problem);
        }
    }
    if (username_secret && credential.username_secret) {
        if (auto problem = header_secret_problem(credential.type, *credential.username_secret,
                                                 username_secret->reveal())) {
            return make_error("inject.secret", *problem);
        }
    }

    // Stage 2: build the values. Only allocation can fail from here on.
    InjectionPlan plan;
    Wiped header;
    std::string& header_value = header.text;
    add_echo_needles(plan.values_to_redact, raw);

    switch (credential.type) {
        case config::CredentialType::Bearer:
            header_value = "Bearer ";
            header_value += raw;
            plan.set_headers.emplace_back("Authorization", header_value);
            break;
        case config::CredentialType::Basic: {
            Wiped pair;
            Wiped encoded;
            if (username_secret) {
                pair.text = username_secret->reveal();
                add_echo_needles(plan.values_to_redact, username_secret->reveal());
            } else {
                pair.text = credential.username;
            }
            pair.text += ':';
            pair.text += raw;
            encoded.text = base64_encode(pair.text);
            // The pair and its base64 in every form (standalone, inside a larger blob, percent-
            // or JSON-escaped), its hex.
            add_echo_needles(plan.values_to_redact, pair.text);
            header_value = "Basic ";
            header_value += encoded.text;
            plan.set_headers.emplace_back("Authorization", header_value);
            break;
        }
        case config::CredentialType::Header:
            header_value = credential.prefix;
            header_value += raw;
            plan.set_headers.emplace_back(credential.header, header_value);
            break;
        case config::CredentialType::Query: {
            Wiped encoded;
            encoded.text = percent_encode(raw);
            add_needle(plan.values_to_redact, encoded.text);
            plan.set_query_param.emplace(credential.param, encoded.text);
            break;
        }
        case config::CredentialType::Template: {
            const std::size_t at = credential.template_text.find("{secret}");
            if (at == std::string::npos) {
                return make_error("inject.config", "credential template has no {secret}");
            }
            header_value = credential.template_text.substr(0, at);
            header_value += raw;
            header_value += credential.template_text.substr(at + 8);
            const std::string name =
                credential.header.empty() ? "Authorization" : credential.header;
            plan.set_headers.emplace_back(name, header_value);
            break;
        }
    }
    if (!header_value.empty()) add_needle(plan.values_to_redact, header_value);
    // Defense in depth: these are for Cloakroom, never for the upstream.
    plan.remove_headers = {"Proxy-Authorization", "Proxy-Connection"};
    return plan;
}

void apply_injection(http::Head& req, std::string& query, const InjectionPlan& plan) {
    for (const std::string& name : plan.remove_headers) req.erase(name);
    for (const auto& [name, value] : plan.set_headers) req.set(name, value);
    if (plan.set_query_param) {
        const auto& [name, value] = *plan.set_query_param;
        query::remove_param(query, name);
        if (!query.empty()) query.push_back('&');
        query += name;
        query.push_back('=');
        query += value;
    }
}

}  // namespace cloakroom::proxy
