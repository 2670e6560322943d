#include "fleet/budget_script.hpp"

#include <openssl/evp.h>

namespace cloakroom::fleet {

const std::string& budget_script() {
    // One script, so that concurrent gateways cannot interleave between the count and its
    // expiry: a new key gets the expiry; an existing key without one (a token that never expires
    // counted in it) keeps none; one with an expiry only ever gets a later one (GT).
    static const std::string script = R"(local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local at = tonumber(ARGV[2])
if at == 0 then
  redis.call('PERSIST', KEYS[1])
elseif n == tonumber(ARGV[1]) then
  redis.call('EXPIREAT', KEYS[1], at)
elseif redis.call('TTL', KEYS[1]) >= 0 then
  redis.call('EXPIREAT', KEYS[1], at, 'GT')
end
return n)";
    return script;
}

const std::string& budget_script_sha1() {
    static const std::string sha1 = sha1_hex(budget_script());
    return sha1;
}

std::string sha1_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr) != 1) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
        out += kHex[digest[i] >> 4];
        out += kHex[digest[i] & 15];
    }
    return out;
}

EvalshaOutcome classify_evalsha_error(std::string_view error_text) {
    if (error_text.starts_with("NOSCRIPT")) return EvalshaOutcome::NoScript;
    // "NOPERM User cloakroom has no permissions to run the 'evalsha' command" (Redis 7).
    if (error_text.starts_with("NOPERM") && error_text.find("evalsha") != std::string_view::npos)
        return EvalshaOutcome::NoPerm;
    return EvalshaOutcome::Ran;
}

}  // namespace cloakroom::fleet
