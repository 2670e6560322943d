#include "token/chain.hpp"

#include <set>

#include "token/crypto.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

constexpr std::string_view kProofFinalizationKey = "proof-signature-finalization";
constexpr std::size_t kNonceRandomSize = 16;

bool is_third_party(const Caveat& c) {
    return std::holds_alternative<ThirdParty>(c);
}

// Appends caveats to m, advancing the (unfinalized) tail, skipping byte-identical duplicates.
void append_caveats(Macaroon& m, const std::vector<Caveat>& caveats) {
    std::set<Bytes> seen;
    for (const auto& existing : m.caveats) seen.insert(encode_caveat_hmac_input(existing));
    for (const auto& caveat : caveats) {
        Bytes input = encode_caveat_hmac_input(caveat);
        if (!seen.insert(input).second) continue;
        m.tail = crypto::hmac_sha256(m.tail, input);
        m.caveats.push_back(caveat);
    }
}

}  // namespace

std::vector<Bytes> compute_chain(std::string_view root_key, const Macaroon& m) {
    std::vector<Bytes> tails;
    tails.reserve(m.caveats.size() + 1);
    tails.push_back(crypto::hmac_sha256(root_key, encode_nonce(m.nonce)));
    for (const auto& caveat : m.caveats) {
        tails.push_back(crypto::hmac_sha256(tails.back(), encode_caveat_hmac_input(caveat)));
    }
    return tails;
}

Bytes finalize_proof(std::string_view tail) {
    return crypto::hmac_sha256(kProofFinalizationKey, tail);
}

Bytes expected_tail(std::string_view root_key, const Macaroon& m) {
    Bytes tail = compute_chain(root_key, m).back();
    return m.nonce.proof ? finalize_proof(tail) : tail;
}

Result<Macaroon> mint_macaroon(std::string_view root_key, Bytes kid, std::string location,
                               const std::vector<Caveat>& caveats, bool proof) {
    for (const auto& caveat : caveats) {
        if (is_third_party(caveat)) {
            return make_error("token.mint", "3P caveats are added with add_third_party_caveat");
        }
    }
    Macaroon m;
    m.nonce.kid = std::move(kid);
    m.nonce.rnd = crypto::random_bytes(kNonceRandomSize);
    m.nonce.proof = proof;
    m.location = std::move(location);
    m.tail = crypto::hmac_sha256(root_key, encode_nonce(m.nonce));
    append_caveats(m, caveats);
    if (proof) m.tail = finalize_proof(m.tail);
    return m;
}

Result<void> attenuate(Macaroon& m, const std::vector<Caveat>& caveats) {
    if (m.nonce.proof) {
        return make_error("token.attenuate", "can't add caveats to a finalized proof token");
    }
    if (m.tail.size() != crypto::kTailSize) {
        return make_error("token.attenuate", "token tail is not 32 bytes");
    }
    for (const auto& caveat : caveats) {
        if (is_third_party(caveat)) {
            return make_error("token.attenuate",
                              "3P caveats are added with add_third_party_caveat");
        }
    }
    append_caveats(m, caveats);
    return {};
}

std::string token_id(const Macaroon& m) {
    return hex_encode(m.nonce.rnd);
}

}  // namespace cloakroom::token
