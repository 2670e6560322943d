#include "token/signature.hpp"

#include <openssl/crypto.h>

#include <map>
#include <string>

#include "token/chain.hpp"
#include "token/crypto.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

Error signature_error(std::string message) {
    return make_error("token.signature", std::move(message));
}

// A 3P caveat whose discharge is verified after the main chain; owns the discharge root key
// and wipes it when done.
struct PendingDischarge {
    PendingDischarge(const std::vector<const Macaroon*>* c, Bytes key)
        : candidates(c), root_key(std::move(key)) {}
    PendingDischarge(const PendingDischarge&) = delete;
    PendingDischarge& operator=(const PendingDischarge&) = delete;
    PendingDischarge(PendingDischarge&& other) noexcept
        : candidates(other.candidates), root_key(std::move(other.root_key)) {}
    PendingDischarge& operator=(PendingDischarge&&) = delete;
    ~PendingDischarge() { OPENSSL_cleanse(root_key.data(), root_key.size()); }

    const std::vector<const Macaroon*>* candidates;
    Bytes root_key;
};

Result<std::vector<Caveat>> verify_one(std::string_view root_key, const Macaroon& m,
                                       const std::vector<Macaroon>& discharges,
                                       const std::vector<Bytes>* parent_binding_ids) {
    std::map<Bytes, std::vector<const Macaroon*>> by_ticket;
    for (const auto& d : discharges) by_ticket[d.nonce.kid].push_back(&d);

    Bytes tail = crypto::hmac_sha256(root_key, encode_nonce(m.nonce));
    // The intermediate tails are kept (and hashed into binding ids) only when a discharge can
    // need them: most tokens have no 3P caveat.
    bool has_third_party = false;
    for (const auto& caveat : m.caveats) {
        has_third_party = has_third_party || std::holds_alternative<ThirdParty>(caveat);
    }
    std::vector<Bytes> tails;
    if (has_third_party) {
        tails.reserve(m.caveats.size() + 1);
        tails.push_back(tail);
    }
    std::vector<PendingDischarge> pending;
    std::vector<Caveat> to_evaluate;

    for (const auto& caveat : m.caveats) {
        if (const auto* tp = std::get_if<ThirdParty>(&caveat)) {
            auto found = by_ticket.find(tp->ticket);
            if (found == by_ticket.end()) return signature_error("no matching discharge token");
            auto key = crypto::open(tail, tp->verifier_key);
            if (!key) {
                return signature_error("3P caveat for '" + tp->location +
                                       "': verifier key does not open with this chain");
            }
            pending.emplace_back(&found->second, std::move(*key));
        } else if (const auto* bind = std::get_if<BindToParent>(&caveat)) {
            bool bound = false;
            if (parent_binding_ids != nullptr) {
                for (const auto& id : *parent_binding_ids) {
                    if (id.compare(0, bind->binding_id.size(), bind->binding_id) == 0 &&
                        bind->binding_id.size() <= id.size()) {
                        bound = true;
                        break;
                    }
                }
            }
            if (!bound) {
                return signature_error("discharge bound to different parent token: " +
                                       hex_encode(bind->binding_id));
            }
        } else {
            to_evaluate.push_back(caveat);
        }
        tail = crypto::hmac_sha256(tail, encode_caveat_hmac_input(caveat));
        if (has_third_party) tails.push_back(tail);
    }

    std::vector<Bytes> binding_ids;
    if (!pending.empty()) {
        binding_ids.reserve(tails.size());
        for (const auto& t : tails) binding_ids.push_back(crypto::sha256(t));
    }

    // Discharge problems are reported before a mismatch of this token's own tail (as the
    // reference does), which keeps error messages identical in spirit.
    for (const auto& p : pending) {
        std::string last_error;
        bool discharged = false;
        for (const Macaroon* d : *p.candidates) {
            auto caveats = verify_one(p.root_key, *d, {}, &binding_ids);
            if (caveats) {
                to_evaluate.insert(to_evaluate.end(), caveats->begin(), caveats->end());
                discharged = true;
                break;
            }
            last_error = caveats.error().message;
        }
        if (!discharged) return signature_error("verify discharge: " + last_error);
    }

    if (m.nonce.proof) tail = finalize_proof(tail);
    if (!crypto::equal(tail, m.tail)) return signature_error("invalid signature");
    return to_evaluate;
}

}  // namespace

Result<std::vector<Caveat>> verify_macaroon(std::string_view root_key, const Macaroon& main,
                                            const std::vector<Macaroon>& discharges) {
    return verify_one(root_key, main, discharges, nullptr);
}

}  // namespace cloakroom::token
