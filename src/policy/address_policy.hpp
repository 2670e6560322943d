// SSRF guard for upstream connections. Security invariant 7 (docs/architecture.md): internal
// addresses are refused unless a service explicitly allows them; metadata addresses are refused
// always. The proxy resolves the host, classifies every resolved address here, and dials exactly an
// address that passed: checking a name and letting the socket layer resolve it again would reopen
// DNS rebinding.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::policy {

enum class AddressClass {
    Public,
    Loopback,
    Private,
    LinkLocal,
    Metadata,
    Unspecified,
    Multicast,
    Reserved,
    SharedCgnat,
    Documentation,
    Broadcast,
};

struct AddressVerdict {
    bool allowed;
    AddressClass cls;
    // Why, naming the address and (for IPv6 forms that embed IPv4) the inner address, e.g.
    // "169.254.169.254 is a cloud metadata address".
    std::string reason;
    // Refused now, but allow_private = true would allow it (so a refusal may suggest it).
    bool allow_private_would_allow = false;
};

// bytes: 4 (IPv4) or 16 (IPv6) network-order bytes; any other size is refused as Reserved.
// IPv6 forms that carry an IPv4 address (mapped, compatible, SIIT, NAT64, 6to4, Teredo) are
// classified by that inner address. Only Public is allowed by default; allow_private permits
// everything except Metadata, Unspecified, Multicast and Broadcast (a service that deliberately
// targets a private or loopback upstream sets allow_private = true in its config). Metadata
// addresses hand out the host's cloud credentials: no setting allows them.
AddressVerdict classify_address(std::span<const std::uint8_t> bytes, bool allow_private);

// "1.2.3.4", "::1", "[::1]" to network-order bytes. Strict: exactly four decimal IPv4 parts
// without leading zeros, no shorthand ("1.2.3"), no zone ids ("fe80::1%eth0"), brackets only
// around IPv6. Errors use code "address.invalid".
Result<std::vector<std::uint8_t>> parse_ip_literal(std::string_view text);

// Canonical text (dotted quad, RFC 5952 IPv6) for logs and reasons; "" for a bad size.
std::string format_address(std::span<const std::uint8_t> bytes);

// Stable lower-case name for audit records: "public", "loopback", "metadata", ...
std::string_view address_class_name(AddressClass cls);

}  // namespace cloakroom::policy
