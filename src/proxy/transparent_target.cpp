#include "proxy/transparent_target.hpp"

#include "config/authority.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;

namespace {

Error refused(std::string reason) {
    return make_error("transparent.name", std::move(reason));
}

}  // namespace

Result<std::string> normalize_sent_name(std::string_view text) {
    auto parsed = config::parse_authority(text);
    if (!parsed.ok()) return refused("bad host name: " + parsed.error().message);
    return parsed->host;
}

Result<DestinationName> destination_name(const net::ip::address& destination,
                                         const std::optional<std::string>& sent,
                                         const dns::SyntheticPool& pool) {
    const std::string shown = destination.to_string();
    std::optional<std::optional<std::string>> synthetic;  // set: a synthetic address
    if (destination.is_v4()) {
        const dns::Ipv4 address = destination.to_v4().to_bytes();
        if (dns::SyntheticPool::in_range(address)) synthetic = pool.name_of(address);
    } else {
        const dns::Ipv6 address = destination.to_v6().to_bytes();
        if (dns::SyntheticPool::in_range(address)) synthetic = pool.name_of(address);
    }
    if (synthetic) {
        const auto& name = *synthetic;
        if (!name) {
            return refused("destination " + shown +
                           " is a synthetic address Cloakroom's DNS did not give out");
        }
        if (sent && *sent != *name) {
            return refused("name '" + *sent + "' does not belong to destination " + shown +
                           " (the address of '" + *name + "')");
        }
        return DestinationName{*name, false};
    }
    if (!sent) {
        return refused("no host name (TLS server name or Host header) for destination " + shown);
    }
    boost::system::error_code ec;
    const auto literal = net::ip::make_address(*sent, ec);
    if (!ec) {
        // The agent named the address itself: it must be the one it connected to.
        if (literal != destination) {
            return refused("address '" + *sent + "' is not the destination " + shown);
        }
        return DestinationName{*sent, false};
    }
    return DestinationName{*sent, true};
}

}  // namespace cloakroom::proxy
