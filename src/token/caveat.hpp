// Typed caveats of the agent-creds / superfly macaroon format (tests/vectors/README.md §3.5).
// Byte strings are held in std::string (binary-safe); "Bytes" marks where content is binary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cloakroom::token {

using Bytes = std::string;

// Wire type numbers.
inline constexpr std::uint64_t kTypeValidityWindow = 4;
inline constexpr std::uint64_t kTypeThirdParty = 11;
inline constexpr std::uint64_t kTypeBindToParent = 12;
inline constexpr std::uint64_t kTypeApiHost = (std::uint64_t{1} << 32) + 1;
inline constexpr std::uint64_t kTypeApiMethod = (std::uint64_t{1} << 32) + 2;
inline constexpr std::uint64_t kTypeApiPath = (std::uint64_t{1} << 32) + 3;
inline constexpr std::uint64_t kTypeAttestation = (std::uint64_t{1} << 32) + 4;

// Cloakroom's own caveat types (database gateways). agent-creds registers 2^32+1..4 and Fly.io
// uses small numbers and 2^48+n; Cloakroom's live at 2^32 + 0x434C0000 ("CL") + n, far from
// both. agent-creds does not know them, so it rejects such tokens (fail closed), as it should.
inline constexpr std::uint64_t kCloakroomCaveatBase = (std::uint64_t{1} << 32) + 0x434C0000;
inline constexpr std::uint64_t kTypeDbServices = kCloakroomCaveatBase + 1;
inline constexpr std::uint64_t kTypeDbLogins = kCloakroomCaveatBase + 2;
inline constexpr std::uint64_t kTypeDbNames = kCloakroomCaveatBase + 3;
inline constexpr std::uint64_t kTypeDbCommands = kCloakroomCaveatBase + 4;
inline constexpr std::uint64_t kTypeUsageLimits = kCloakroomCaveatBase + 5;

// Unix seconds, both ends inclusive.
struct ValidityWindow {
    std::int64_t not_before = 0;
    std::int64_t not_after = 0;
    bool operator==(const ValidityWindow&) const = default;
};

// For the three list caveats, nullopt is msgpack nil (Go nil slice). Nil and empty both allow
// nothing; they are kept apart only so the bytes re-encode identically.
struct Hosts {
    std::optional<std::vector<std::string>> hosts;
    bool operator==(const Hosts&) const = default;
};
struct Methods {
    std::optional<std::vector<std::string>> methods;
    bool operator==(const Methods&) const = default;
};
struct Paths {
    std::optional<std::vector<std::string>> patterns;
    bool operator==(const Paths&) const = default;
};

// Database caveats: bodies are 1-element arrays holding a list of str (or nil), like Hosts.
// [[database]] names the token may log in to.
struct DbServices {
    std::optional<std::vector<std::string>> services;
    bool operator==(const DbServices&) const = default;
};
// Login names (the agent's user name, config::DatabaseLogin::name).
struct DbLogins {
    std::optional<std::vector<std::string>> logins;
    bool operator==(const DbLogins&) const = default;
};
// Database names asked for at login (PostgreSQL/MySQL). A login naming no database fails it.
struct DbNames {
    std::optional<std::vector<std::string>> names;
    bool operator==(const DbNames&) const = default;
};
// Redis commands (upper-case names, or a category such as "@read"); enforced per command by the
// Redis session. Any other protocol fails it (it cannot be enforced there).
struct DbCommands {
    std::optional<std::vector<std::string>> commands;
    bool operator==(const DbCommands&) const = default;
};

// Rate, concurrency and budget limits carried by the token itself (docs/operations.md, "Rate
// limits and budgets"). Not an access condition: evaluation always allows it; the gateway's
// limiter enforces it per token id, across every service and database, in addition to the
// configured limits. Body: an array of four unsigned integers [rate_count, rate_period_seconds,
// concurrency, budget]; 0 means "no limit of this kind" (the rate needs both of its numbers).
struct UsageLimits {
    std::uint64_t rate_count = 0;
    std::uint64_t rate_period_seconds = 0;
    std::uint64_t concurrency = 0;
    std::uint64_t budget = 0;
    bool operator==(const UsageLimits&) const = default;
};

struct ThirdParty {
    std::string location;
    Bytes verifier_key;  // discharge root key sealed under the chain tail before this caveat
    Bytes ticket;        // sealed for the third party; also the discharge's key id
    bool operator==(const ThirdParty&) const = default;
};

// Prefix of SHA-256 of one of the parent token's chain tails (discharges only).
struct BindToParent {
    Bytes binding_id;
    bool operator==(const BindToParent&) const = default;
};

// agent-creds' attestation marker; only found inside 3P tickets and allows everything.
struct Attestation {
    std::string nonce;
    bool operator==(const Attestation&) const = default;
};

// A type this verifier does not know: kept as its exact body bytes so signatures still check;
// it always fails evaluation.
struct UnknownCaveat {
    std::uint64_t type = 0;
    Bytes body;  // one complete msgpack value
    bool operator==(const UnknownCaveat&) const = default;
};

using Caveat =
    std::variant<ValidityWindow, Hosts, Methods, Paths, ThirdParty, BindToParent, Attestation,
                 DbServices, DbLogins, DbNames, DbCommands, UsageLimits, UnknownCaveat>;

std::uint64_t caveat_type(const Caveat& caveat);
// "ValidityWindow", "3P", "BindToParentToken", "APIHost", "APIMethod", "APIPath",
// "Attestation", "DBService", "DBLogin", "DBName", "DBCommand", "Limits", or "Unregistered" for any
// other number.
std::string_view caveat_type_name(std::uint64_t type);

}  // namespace cloakroom::token
