// The DNS responder's I/O: see dns_listener.hpp. The answers are dns::answer_query's.
#include "proxy/dns_listener.hpp"

#include <array>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "config/authority.hpp"
#include "dns/answer.hpp"
#include "runtime/exchange.hpp"
#include "runtime/peer_address.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
using tcp = net::ip::tcp;
using udp = net::ip::udp;

namespace {

constexpr std::string_view kAuditDns = "dns";

// Whether a service or [allow] host has this name (any port).
bool known_name(const config::Config& config, std::string_view name) {
    auto matches = [&](const std::string& entry) {
        auto authority = config::parse_authority(entry);
        return authority.ok() && authority->host == name;
    };
    for (const auto& service : config.services) {
        for (const auto& host : service.hosts) {
            if (matches(host)) return true;
        }
    }
    for (const auto& host : config.allowed_hosts) {
        if (matches(host)) return true;
    }
    return false;
}

std::string type_text(std::uint16_t type) {
    switch (type) {
        case 1:
            return "A";
        case 5:
            return "CNAME";
        case 15:
            return "MX";
        case 16:
            return "TXT";
        case 28:
            return "AAAA";
        case 33:
            return "SRV";
        case 64:
            return "SVCB";
        case 65:
            return "HTTPS";
        case 255:
            return "ANY";
        default:
            return "TYPE" + std::to_string(type);
    }
}

// A refused name as the audit shows it: its last two labels and how much came before them.
// The labels in front are where DNS tunnelling puts data (a token, a file), and the audit log
// must not become the place that data lands.
std::string audited_name(const std::string& name) {
    std::size_t cut = name.size();
    for (int dots = 0; dots < 2; ++dots) {
        const auto dot = name.rfind('.', cut == 0 ? 0 : cut - 1);
        if (dot == std::string::npos || cut == 0) return name.size() > 64 ? "?" : name;
        cut = dot;
    }
    const std::string tail = name.substr(cut + 1);
    return "(" + std::to_string(cut) + " bytes)." + (tail.size() > 64 ? "?" : tail);
}

dns::Answer answer(std::span<const std::uint8_t> query, Gateway& gateway,
                   const std::string& client) {
    auto runtime = gateway.runtime.get();
    const config::Config& config = runtime->config;
    const auto known = [&config](std::string_view name) { return known_name(config, name); };
    dns::Answer result = dns::answer_query(query, known, gateway.synthetic);
    if (result.refused) {
        runtime::Exchange exchange(runtime->audit, kAuditDns, client);
        exchange.record().host = audited_name(result.name);
        exchange.record().method = result.name.empty() ? "" : type_text(result.type);
        const runtime::Refusal refusal{403, "dns_refused", result.reason};
        exchange.refuse(refusal);
    }
    return result;
}

std::string endpoint_text(const udp::endpoint& endpoint) {
    return runtime::endpoint_text(tcp::endpoint(endpoint.address(), endpoint.port()));
}

}  // namespace

net::awaitable<void> run_dns_datagrams(std::shared_ptr<udp::socket> socket, Gateway& gateway) {
    std::array<std::uint8_t, 1500> buffer{};
    for (;;) {
        boost::system::error_code ec;
        udp::endpoint from;
        const std::size_t n = co_await socket->async_receive_from(
            net::buffer(buffer), from, net::redirect_error(net::use_awaitable, ec));
        if (!socket->is_open() || ec == net::error::operation_aborted ||
            ec == net::error::bad_descriptor) {
            co_return;
        }
        if (ec) continue;  // e.g. an ICMP error for an earlier answer
        const dns::Answer result = answer({buffer.data(), n}, gateway, endpoint_text(from));
        if (result.response.empty()) continue;
        co_await socket->async_send_to(net::buffer(result.response), from,
                                       net::redirect_error(net::use_awaitable, ec));
    }
}

net::awaitable<void> run_dns_tcp_connection(tcp::socket socket, Gateway& gateway) {
    const std::string client = runtime::peer_address(socket);
    for (;;) {
        std::array<std::uint8_t, 2> length_bytes{};
        boost::system::error_code ec;
        co_await net::async_read(socket, net::buffer(length_bytes),
                                 net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        const std::size_t length = (std::size_t{length_bytes[0]} << 8) | length_bytes[1];
        std::vector<std::uint8_t> query(length);
        co_await net::async_read(socket, net::buffer(query),
                                 net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        const dns::Answer result = answer(query, gateway, client);
        if (result.response.empty()) co_return;
        std::vector<std::uint8_t> framed;
        framed.reserve(result.response.size() + 2);
        framed.push_back(static_cast<std::uint8_t>(result.response.size() >> 8));
        framed.push_back(static_cast<std::uint8_t>(result.response.size()));
        framed.insert(framed.end(), result.response.begin(), result.response.end());
        co_await net::async_write(socket, net::buffer(framed),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
    }
}

}  // namespace cloakroom::proxy
