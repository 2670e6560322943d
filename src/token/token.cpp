#include "token/token.hpp"

#include "policy/path_pattern.hpp"
#include "token/chain.hpp"
#include "token/inspect.hpp"

namespace cloakroom::token {
namespace {

struct DecodedHeader {
    Macaroon main;
    std::vector<std::string> discharge_texts;
    std::vector<Macaroon> discharges;
};

Result<DecodedHeader> decode_header(std::string_view token_or_header, const TokenFormat& format) {
    auto tokens = split_header(token_or_header, format);
    if (!tokens) return tokens.error();
    auto main = decode_token(tokens->main, format);
    if (!main) return main.error();
    DecodedHeader out{std::move(*main), std::move(tokens->discharges), {}};
    for (std::size_t i = 0; i < out.discharge_texts.size(); ++i) {
        auto discharge = decode_token(out.discharge_texts[i], format);
        if (!discharge) {
            return make_error(discharge.error().code, "discharge token " + std::to_string(i + 1) +
                                                          ": " + discharge.error().message);
        }
        out.discharges.push_back(std::move(*discharge));
    }
    return out;
}

}  // namespace

Result<std::string> mint_token(const KeyStore& keys, std::string_view kid,
                               const std::vector<Caveat>& caveats, const TokenFormat& format) {
    const secrets::SecretValue* key = keys.find(kid);
    if (key == nullptr)
        return make_error("token.mint", "unknown key id '" + std::string(kid) + "'");
    auto m = mint_macaroon(key->reveal(), Bytes(kid), format.location, caveats);
    if (!m) return m.error();
    return encode_token(*m, format);
}

Result<std::string> attenuate_token(std::string_view token_or_header,
                                    const std::vector<Caveat>& caveats, const TokenFormat& format) {
    auto decoded = decode_header(token_or_header, format);
    if (!decoded) return decoded.error();
    auto added = attenuate(decoded->main, caveats);
    if (!added) return added.error();
    std::string out = encode_token(decoded->main, format);
    // Discharges are passed through as received: they were accepted by the decoder, so their
    // text is already canonical.
    for (const auto& text : decoded->discharge_texts) out += "," + text;
    return out;
}

Result<nlohmann::json> inspect_token(std::string_view token_or_header, const TokenFormat& format) {
    auto decoded = decode_header(token_or_header, format);
    if (!decoded) return decoded.error();
    nlohmann::json out = macaroon_json(decoded->main);
    out["discharges"] = nlohmann::json::array();
    for (const auto& d : decoded->discharges) out["discharges"].push_back(macaroon_json(d));
    return out;
}

VerifyOutcome verify_token(std::string_view token_or_header, const AccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format) {
    return verify(token_or_header, request, keys, format);
}

VerifyOutcome verify_token(std::string_view token_or_header, const DbAccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format) {
    return verify(token_or_header, request, keys, format);
}

VerifyOutcome verify_token(std::string_view token_or_header, const AccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format, VerifyCache* cache) {
    return verify(token_or_header, request, keys, format, cache);
}

VerifyOutcome verify_token(std::string_view token_or_header, const DbAccessRequest& request,
                           const KeyStore& keys, const TokenFormat& format, VerifyCache* cache) {
    return verify(token_or_header, request, keys, format, cache);
}

Caveat hosts_caveat(std::vector<std::string> hosts) {
    return Hosts{std::move(hosts)};
}

Caveat methods_caveat(std::vector<std::string> methods) {
    return Methods{std::move(methods)};
}

Result<Caveat> paths_caveat(std::vector<std::string> patterns) {
    for (const auto& pattern : patterns) {
        auto compiled = policy::PathPattern::compile(pattern);
        if (!compiled) return compiled.error();
    }
    return Caveat(Paths{std::move(patterns)});
}

Caveat validity_caveat(std::int64_t not_before, std::int64_t not_after) {
    return ValidityWindow{not_before, not_after};
}

Caveat db_services_caveat(std::vector<std::string> services) {
    return DbServices{std::move(services)};
}

Caveat db_logins_caveat(std::vector<std::string> logins) {
    return DbLogins{std::move(logins)};
}

Caveat db_names_caveat(std::vector<std::string> names) {
    return DbNames{std::move(names)};
}

Caveat db_commands_caveat(std::vector<std::string> commands) {
    // Redis command names are case-insensitive and the session compares upper-case names;
    // ACL categories ("@read") are lower-case in Redis.
    for (auto& command : commands) {
        const bool category = !command.empty() && command.front() == '@';
        for (char& c : command) {
            if (category && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (!category && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return DbCommands{std::move(commands)};
}

}  // namespace cloakroom::token
