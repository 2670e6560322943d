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

using Caveat = std::variant<ValidityWindow, Hosts, Methods, Paths, ThirdParty, BindToParent,
                            Attestation, UnknownCaveat>;

std::uint64_t caveat_type(const Caveat& caveat);
// "ValidityWindow", "3P", "BindToParentToken", "APIHost", "APIMethod", "APIPath",
// "Attestation", or "Unregistered" for any other number.
std::string_view caveat_type_name(std::uint64_t type);

}  // namespace cloakroom::token
