// Revoked tokens (docs/architecture.md, "Revocation"): what `cloakroom revoke` records and what
// the access decision checks. Pure: parsing and lookup, no I/O (runtime/revocation_store.* reads
// and appends the file).
//
// A record revokes either one token id (token::token_id: the hex of the root nonce, which every
// token attenuated from it keeps, so revoking a parent revokes every descendant), or every token
// minted before a time. The token format carries no mint time; the mint time of a token is the
// earliest `not_before` of its validity caveats (`cloakroom mint` sets it to the minting time).
// Attenuation only adds caveats, so a holder can lower that time but never raise it: a token
// cannot escape a `before` revocation by attenuating. A token with no validity caveat has no
// known mint time and is covered by every `before` record (fail closed).
//
// The file holds one JSON object per line:
//   {"revoked_at":1700000000,"token_id":"<32 hex>","reason":"leaked in CI logs"}
//   {"revoked_at":1700000000,"before":1699990000,"reason":"signing key rotated"}
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "token/caveat.hpp"
#include "util/result.hpp"

namespace cloakroom::runtime {

struct RevocationRecord {
    std::int64_t revoked_at = 0;         // Unix seconds when it was recorded
    std::string token_id;                // "" for a `before` record
    std::optional<std::int64_t> before;  // every token minted before this Unix time
    std::string reason;                  // operator's words, printable, may be ""
};

// The longest reason accepted (it is shown to agents and written to the audit log).
inline constexpr std::size_t kMaxRevocationReason = 200;
// Length of a token id: the hex of the 16-byte root nonce.
inline constexpr std::size_t kTokenIdLength = 32;

// Validation shared by the CLI and the parser: "" when fine, else why not.
std::string check_token_id(std::string_view id);
std::string check_reason(std::string_view reason);

// The record as one line of the file, "\n" included.
std::string format_revocation(const RevocationRecord& record);

// A token's mint time as defined above; nullopt when no validity caveat bounds it.
std::optional<std::int64_t> mint_time(const std::vector<token::Caveat>& caveats);

class RevocationList {
  public:
    // Parses the whole file. Errors (code "revocations.invalid") name the line and the problem;
    // an incomplete last line (no "\n": a writer is still at it, or died before finishing it)
    // is not a record and is skipped.
    static Result<RevocationList> parse(std::string_view text);

    void add(RevocationRecord record);

    // The record that revokes this token, or nullptr. `minted` is mint_time() of its caveats.
    const RevocationRecord* find(std::string_view token_id,
                                 std::optional<std::int64_t> minted) const;

    bool empty() const { return records_.empty(); }
    const std::vector<RevocationRecord>& records() const { return records_; }

  private:
    std::vector<RevocationRecord> records_;
    // Transparent: the hot path looks up a string_view without building a string.
    struct IdHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view id) const {
            return std::hash<std::string_view>{}(id);
        }
    };
    std::unordered_map<std::string, std::size_t, IdHash, std::equal_to<>> by_id_;  // first per id
    std::optional<std::size_t> latest_before_;  // the `before` record with the max time
};

}  // namespace cloakroom::runtime
