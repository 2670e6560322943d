#include "token/verify.hpp"

#include "token/chain.hpp"
#include "token/signature.hpp"
#include "token/text.hpp"

#include <memory>
#include <optional>

namespace cloakroom::token {
namespace {

VerifyOutcome fail(VerifyOutcome out, Stage stage, std::string reason) {
    out.stage = stage;
    out.reason = std::move(reason);
    return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += separator;
        out += parts[i];
    }
    return out;
}

// The access stage: what the request itself must carry. "" = complete.
std::string missing_field(const AccessRequest& request) {
    if (request.host.empty()) return "host";
    if (request.method.empty()) return "method";
    if (request.path.empty()) return "path";
    return {};
}

std::string missing_field(const DbAccessRequest& request) {
    if (request.service.empty()) return "database service";
    if (request.login.empty()) return "login";
    if (request.protocol.empty()) return "protocol";
    return {};  // the database name is optional (Redis, MySQL without one)
}

// Every stage after `access` is the same for both kinds of request; only the caveat
// evaluation (an evaluate_caveats overload) depends on the request type.
// Header, decode and signature: what a VerifyCache remembers. On failure `out` is the outcome
// to return and the result is empty.
std::optional<VerifiedToken> verify_signature(std::string_view header_or_token,
                                              const KeyStore& keys, const TokenFormat& format,
                                              VerifyOutcome& out) {
    auto tokens = split_header(header_or_token, format);
    if (!tokens) {
        out = fail(std::move(out), Stage::Header, tokens.error().message);
        return std::nullopt;
    }

    auto main = decode_token(tokens->main, format);
    if (!main) {
        out =
            fail(std::move(out), Stage::Decode, "failed to decode token: " + main.error().message);
        return std::nullopt;
    }
    out.token_id = token_id(*main);
    if (auto kid = detail::printable_utf8(main->nonce.kid)) out.key_id = *kid;

    std::vector<Macaroon> discharges;
    discharges.reserve(tokens->discharges.size());
    for (std::size_t i = 0; i < tokens->discharges.size(); ++i) {
        auto discharge = decode_token(tokens->discharges[i], format);
        if (!discharge) {
            out = fail(std::move(out), Stage::Decode,
                       "failed to decode discharge token " + std::to_string(i + 1) + ": " +
                           discharge.error().message);
            return std::nullopt;
        }
        discharges.push_back(std::move(*discharge));
    }

    const secrets::SecretValue* key = keys.find(main->nonce.kid);
    if (key == nullptr) {
        out = fail(std::move(out), Stage::Signature,
                   "unknown key id '" + detail::escape(main->nonce.kid) + "'");
        return std::nullopt;
    }
    auto caveats = verify_macaroon(key->reveal(), *main, discharges);
    if (!caveats) {
        out = fail(std::move(out), Stage::Signature,
                   "signature verification failed: " + caveats.error().message);
        return std::nullopt;
    }
    return VerifiedToken{out.token_id, out.key_id, std::move(*caveats)};
}

// Every stage after `access` is the same for both kinds of request; only the caveat
// evaluation (an evaluate_caveats overload) depends on the request type. With a cache, a token
// text that verified before skips header, decode and signature (only successes are cached:
// a failure costs no more than an uncached verify, and caching attacker-chosen garbage would
// only let it evict the entries of valid tokens); the caveats are always evaluated afresh.
template <class Request>
VerifyOutcome verify_stages(std::string_view header_or_token, const Request& request,
                            const KeyStore& keys, const TokenFormat& format, VerifyCache* cache) {
    VerifyOutcome out;
    if (const std::string missing = missing_field(request); !missing.empty()) {
        return fail(out, Stage::Access, "invalid access: " + missing + " is required");
    }

    if (cache == nullptr) {
        auto verified = verify_signature(header_or_token, keys, format, out);
        if (!verified) return out;
        out.caveats = std::move(verified->caveats);
    } else if (auto hit = cache->find(header_or_token, keys, format.prefix)) {
        out.token_id = hit->token_id;
        out.key_id = hit->key_id;
        out.caveats = SharedCaveats(hit, hit->caveats);
    } else {
        auto verified = verify_signature(header_or_token, keys, format, out);
        if (!verified) return out;
        auto shared = std::make_shared<const VerifiedToken>(std::move(*verified));
        out.caveats = SharedCaveats(shared, shared->caveats);
        cache->insert(header_or_token, keys, format.prefix, std::move(shared));
    }

    const auto denials = evaluate_caveats(out.caveats, request);
    if (!denials.empty()) {
        return fail(std::move(out), Stage::Caveats,
                    "caveat validation failed: " + join(denials, "; "));
    }
    out.stage = Stage::Ok;
    return out;
}

}  // namespace

std::string_view stage_name(Stage stage) {
    switch (stage) {
        case Stage::Access:
            return "access";
        case Stage::Header:
            return "header";
        case Stage::Decode:
            return "decode";
        case Stage::Signature:
            return "signature";
        case Stage::Caveats:
            return "caveats";
        case Stage::Ok:
            return "ok";
    }
    return "unknown";
}

VerifyOutcome verify(std::string_view header_or_token, const AccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format) {
    return verify_stages(header_or_token, request, keys, format, nullptr);
}

VerifyOutcome verify(std::string_view header_or_token, const DbAccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format) {
    return verify_stages(header_or_token, request, keys, format, nullptr);
}

VerifyOutcome verify(std::string_view header_or_token, const AccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format, VerifyCache* cache) {
    return verify_stages(header_or_token, request, keys, format, cache);
}

VerifyOutcome verify(std::string_view header_or_token, const DbAccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format, VerifyCache* cache) {
    return verify_stages(header_or_token, request, keys, format, cache);
}

}  // namespace cloakroom::token
