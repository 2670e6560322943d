#include "token/verify.hpp"

#include "token/chain.hpp"
#include "token/signature.hpp"
#include "token/text.hpp"

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
template <class Request>
VerifyOutcome verify_stages(std::string_view header_or_token, const Request& request,
                            const KeyStore& keys, const TokenFormat& format) {
    VerifyOutcome out;
    if (const std::string missing = missing_field(request); !missing.empty()) {
        return fail(out, Stage::Access, "invalid access: " + missing + " is required");
    }

    auto tokens = split_header(header_or_token, format);
    if (!tokens) return fail(out, Stage::Header, tokens.error().message);

    auto main = decode_token(tokens->main, format);
    if (!main) return fail(out, Stage::Decode, "failed to decode token: " + main.error().message);
    out.token_id = token_id(*main);
    if (auto kid = detail::printable_utf8(main->nonce.kid)) out.key_id = *kid;

    std::vector<Macaroon> discharges;
    for (std::size_t i = 0; i < tokens->discharges.size(); ++i) {
        auto discharge = decode_token(tokens->discharges[i], format);
        if (!discharge) {
            return fail(out, Stage::Decode,
                        "failed to decode discharge token " + std::to_string(i + 1) + ": " +
                            discharge.error().message);
        }
        discharges.push_back(std::move(*discharge));
    }

    const secrets::SecretValue* key = keys.find(main->nonce.kid);
    if (key == nullptr) {
        return fail(out, Stage::Signature,
                    "unknown key id '" + detail::escape(main->nonce.kid) + "'");
    }
    auto caveats = verify_macaroon(key->reveal(), *main, discharges);
    if (!caveats) {
        return fail(out, Stage::Signature,
                    "signature verification failed: " + caveats.error().message);
    }
    out.caveats = std::move(*caveats);

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
    return verify_stages(header_or_token, request, keys, format);
}

VerifyOutcome verify(std::string_view header_or_token, const DbAccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format) {
    return verify_stages(header_or_token, request, keys, format);
}

}  // namespace cloakroom::token
