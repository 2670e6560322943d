// Which host a redirected connection is for (docs/transparent.md, "Which name a connection gets"):
// the name must belong to the original destination. Pure: the DNS lookup a real address needs
// is the caller's (check_resolution).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "dns/synthetic_pool.hpp"
#include "util/result.hpp"

namespace cloakroom::proxy {

struct DestinationName {
    std::string name;  // normalized: lower-case, no trailing dot, no port
    // The destination is a real address the agent dialed by number: the connection may go on
    // only if `name` resolves to it.
    bool check_resolution = false;
};

// A name as the agent sent it (TLS server name, or a Host header with or without a port),
// normalized. Errors "transparent.name".
Result<std::string> normalize_sent_name(std::string_view text);

// `destination`: the original destination address (IPv4-mapped IPv6 already unmapped);
// `sent`: the normalized name from the ClientHello or Host header, if any. A synthetic address
// names its host itself, and a sent name must be that one; a real address needs a sent name.
// Errors "transparent.name", the message is the audited reason.
Result<DestinationName> destination_name(const boost::asio::ip::address& destination,
                                         const std::optional<std::string>& sent,
                                         const dns::SyntheticPool& pool);

}  // namespace cloakroom::proxy
