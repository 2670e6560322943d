// What the DNS responder says (docs/transparent.md, "DNS"): a name Cloakroom may reach gets a
// synthetic A record, nothing else gets an address. No recursion, ever: a query never leaves
// this function, so nothing leaks through DNS (a name like "<secret>.evil.example" is answered
// NXDOMAIN here and goes nowhere).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/message.hpp"
#include "dns/synthetic_pool.hpp"

namespace cloakroom::dns {

// TTL of a synthetic answer: the address stays the name's while the gateway runs.
inline constexpr std::uint32_t kSyntheticTtl = 60;

struct Answer {
    std::vector<std::uint8_t> response;  // empty: send nothing
    std::string name;                    // the question's name ("" when unreadable)
    std::uint16_t type = 0;
    Rcode rcode = Rcode::NoError;
    bool answered = false;  // an address was given
    bool refused = false;   // a name Cloakroom does not serve (audit it)
    std::string reason;
};

// `known(name)`: whether a service or [allow] host has this name. Known names: A and AAAA →
// their synthetic address (ANY → the A one), every other type → NODATA (NOERROR, no record).
// Unknown names → NXDOMAIN for every type. Class other than IN → REFUSED. Malformed →
// FORMERR/NOTIMP or silence.
Answer answer_query(std::span<const std::uint8_t> message,
                    const std::function<bool(std::string_view)>& known, SyntheticPool& pool);

}  // namespace cloakroom::dns
