// Root signing keys by key id. Tokens carry the key id in their nonce, so several keys can be
// live at once: mint under a new id, keep the old id until its tokens have expired, then remove
// it (key rotation).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/secret_value.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

inline constexpr std::size_t kMinKeySize = 32;
inline constexpr std::string_view kEnvSigningKey = "MACAROON_SIGNING_KEY";
inline constexpr std::string_view kEnvKeyId = "primary";

// Key ids are [A-Za-z0-9._-]+ (they name files in a key directory), at most 128 characters.
bool valid_key_id(std::string_view kid);

class KeyStore {
  public:
    // Errors (code "token.keys"): invalid key id, key shorter than 32 bytes, duplicate id.
    // `source` names where the key came from in messages (a file, MACAROON_SIGNING_KEY).
    Result<void> add(std::string_view kid, secrets::SecretValue key, std::string_view source = {});
    // Standard base64 with padding, at least 32 bytes once decoded, used whole.
    Result<void> add_base64(std::string_view kid, std::string_view base64_key,
                            std::string_view source = {});
    // MACAROON_SIGNING_KEY as key id "primary" (agent-creds' variable and format).
    Result<void> add_from_env();
    // Loads every "<kid>.key" file of `dir` (other names are ignored). Symlinks, unreadable or
    // invalid files are errors (nothing is added then); key files readable by group or others
    // are accepted but reported in the returned warnings. Reloading is idempotent: a key id
    // already present with the same bytes is skipped (e.g. MACAROON_SIGNING_KEY holding the key
    // of primary.key), with different bytes it is an error naming both sources and the fix.
    Result<std::vector<std::string>> load_dir(const std::string& dir);
    // Creates `dir` (0700) if needed and a new random 32-byte key "<dir>/<kid>.key" (0600,
    // never overwriting). Returns the file path.
    static Result<std::string> generate(const std::string& dir, std::string_view kid);

    bool remove(std::string_view kid);
    bool contains(std::string_view kid) const { return find(kid) != nullptr; }
    const secrets::SecretValue* find(std::string_view kid) const;
    std::vector<std::string> key_ids() const;  // sorted
    std::vector<std::string> ids() const { return key_ids(); }
    bool empty() const { return keys_.empty(); }

  private:
    std::map<std::string, secrets::SecretValue, std::less<>> keys_;
    std::map<std::string, std::string, std::less<>> sources_;  // kid -> where it came from
};

}  // namespace cloakroom::token
