// libFuzzer target for the token decoder. The input is tried as raw msgpack (macaroon and caveat
// set) and as Authorization header text. Whatever decodes must re-encode to the exact input
// (Cloakroom's decoder only accepts canonical bytes), and nothing may crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "token/inspect.hpp"
#include "token/macaroon.hpp"
#include "token/token.hpp"

namespace {

using namespace cloakroom::token;

const TokenFormat& format() {
    static const TokenFormat kFormat;
    return kFormat;
}

const KeyStore& keys() {
    static const KeyStore kKeys = [] {
        KeyStore k;
        (void)k.add("primary", cloakroom::secrets::SecretValue(std::string(32, 'k')));
        return k;
    }();
    return kKeys;
}

void check_raw(std::string_view input) {
    auto m = decode_macaroon(input);
    if (m.ok()) {
        if (encode_macaroon(*m) != input) std::abort();
        const std::string text = encode_token(*m, format());
        auto again = decode_token(text, format());
        if (!again.ok() || !(*again == *m)) std::abort();
        (void)macaroon_json(*m).dump();
    }
    auto caveats = decode_caveat_set(input);
    if (caveats.ok() && encode_caveat_set(*caveats) != input) std::abort();
}

void check_header(std::string_view input) {
    auto tokens = split_header(input, format());
    if (!tokens.ok()) return;
    auto m = decode_token(tokens->main, format());
    if (m.ok() && encode_token(*m, format()) != tokens->main) std::abort();
    const AccessRequest request{"api.example.com", "GET", "/v1/x?y=1", 1767225600};
    (void)verify_token(input, request, keys(), format());
    auto inspected = inspect_token(input, format());
    if (inspected.ok()) (void)inspected->dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_raw(input);
    check_header(input);
    return 0;
}
