// Full request verification: access fields, header, decode, signature (root key chosen by the
// main token's key id), caveats. Each failure names the stage that decided it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "token/caveat.hpp"
#include "token/evaluate.hpp"
#include "token/keys.hpp"
#include "token/shared_caveats.hpp"
#include "token/token_text.hpp"
#include "token/verify_cache.hpp"

namespace cloakroom::token {

enum class Stage { Access, Header, Decode, Signature, Caveats, Ok };

// "access", "header", "decode", "signature", "caveats", "ok" (the vectors' stage names).
std::string_view stage_name(Stage stage);

struct VerifyOutcome {
    Stage stage = Stage::Access;
    std::string reason;    // readable; never contains key material
    std::string token_id;  // hex of the main token's nonce random (once it decoded)
    std::string key_id;    // main token's key id when printable (once it decoded)
    // The caveats that were evaluated (after the signature check); a cache hit shares the
    // cached list (token/shared_caveats.hpp).
    SharedCaveats caveats;
    bool ok() const { return stage == Stage::Ok; }
};

VerifyOutcome verify(std::string_view header_or_token, const AccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format);
// The same stages for a database login (the token arrives as the client's password).
VerifyOutcome verify(std::string_view header_or_token, const DbAccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format);

// With a cache (nullptr = none): the header, decode and signature stages are skipped for a
// token text verified before with the same keys; the caveats are evaluated every time.
VerifyOutcome verify(std::string_view header_or_token, const AccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format, VerifyCache* cache);
VerifyOutcome verify(std::string_view header_or_token, const DbAccessRequest& request,
                     const KeyStore& keys, const TokenFormat& format, VerifyCache* cache);

}  // namespace cloakroom::token
