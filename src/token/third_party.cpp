#include "token/third_party.hpp"

#include <openssl/crypto.h>

#include "token/caveat_codec.hpp"
#include "token/chain.hpp"
#include "token/crypto.hpp"
#include "token/msgpack_io.hpp"

namespace cloakroom::token {
namespace {

constexpr std::size_t kDischargeKeySize = 32;
constexpr std::size_t kBindingIdSize = 16;

Error tp_error(std::string message) {
    return make_error("token.third_party", std::move(message));
}

}  // namespace

Result<void> add_third_party_caveat(Macaroon& m, std::string_view third_party_key,
                                    std::string_view location,
                                    const std::vector<Caveat>& ticket_caveats) {
    if (m.nonce.proof) return tp_error("can't add caveats to a finalized proof token");
    if (m.tail.size() != crypto::kTailSize) return tp_error("token tail is not 32 bytes");
    for (const auto& c : m.caveats) {
        const auto* tp = std::get_if<ThirdParty>(&c);
        if (tp != nullptr && tp->location == location) {
            return tp_error("token already has a 3P caveat for location '" + std::string(location) +
                            "'");
        }
    }
    std::string discharge_key = crypto::random_bytes(kDischargeKeySize);
    detail::Writer w;
    w.array_header(2);
    w.bin(discharge_key);
    w.raw(encode_caveat_set(ticket_caveats));
    std::string plaintext = w.take();
    auto ticket = crypto::seal(third_party_key, plaintext);
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    auto verifier_key = crypto::seal(m.tail, discharge_key);
    OPENSSL_cleanse(discharge_key.data(), discharge_key.size());
    if (!ticket) return ticket.error();
    if (!verifier_key) return verifier_key.error();

    Caveat caveat = ThirdParty{std::string(location), std::move(*verifier_key), std::move(*ticket)};
    m.tail = crypto::hmac_sha256(m.tail, encode_caveat_hmac_input(caveat));
    m.caveats.push_back(std::move(caveat));
    return {};
}

Result<Ticket> open_ticket(std::string_view third_party_key, std::string_view ticket) {
    auto plaintext = crypto::open(third_party_key, ticket);
    if (!plaintext) return tp_error("ticket: " + plaintext.error().message);
    std::size_t offset = 0;
    auto handle = detail::unpack_one(*plaintext, offset);
    if (!handle) return tp_error("ticket: " + handle.error().message);
    const msgpack::object& root = handle->get();
    if (offset != plaintext->size() || root.type != msgpack::type::ARRAY ||
        root.via.array.size != 2 || root.via.array.ptr[0].type != msgpack::type::BIN) {
        return tp_error("ticket: expected [bin discharge key, caveats]");
    }
    auto slices = detail::array_element_slices(*plaintext);
    if (!slices) return tp_error("ticket: " + slices.error().message);
    auto caveats = detail::read_caveat_array(root.via.array.ptr[1], (*slices)[1]);
    if (!caveats) return tp_error("ticket: " + caveats.error().message);
    const msgpack::object& key = root.via.array.ptr[0];
    Ticket out{Bytes(key.via.bin.ptr, key.via.bin.size), std::move(*caveats)};
    OPENSSL_cleanse(plaintext->data(), plaintext->size());
    return out;
}

Result<Macaroon> make_discharge(std::string_view third_party_key, std::string_view ticket,
                                std::string location, const std::vector<Caveat>& caveats) {
    auto opened = open_ticket(third_party_key, ticket);
    if (!opened) return opened.error();
    auto discharge = mint_macaroon(opened->discharge_key, Bytes(ticket), std::move(location),
                                   caveats, /*proof=*/true);
    OPENSSL_cleanse(opened->discharge_key.data(), opened->discharge_key.size());
    return discharge;
}

BindToParent binding_for(const Macaroon& parent) {
    return BindToParent{crypto::sha256(parent.tail).substr(0, kBindingIdSize)};
}

}  // namespace cloakroom::token
