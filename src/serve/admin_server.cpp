#include "serve/admin_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>

#include "util/unique_fd.hpp"

namespace cloakroom::serve {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using local = net::local::stream_protocol;

namespace {

constexpr std::chrono::seconds kRequestTimeout{10};
constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;
constexpr int kMaxRequestsPerConnection = 1000;

Error admin_error(std::string message) {
    return make_error("admin.listen", std::move(message));
}

std::optional<std::string> field(const bhttp::request<bhttp::string_body>& request,
                                 std::string_view name) {
    auto found = request.find(name);
    if (found == request.end()) return std::nullopt;
    return std::string(found->value());
}

}  // namespace

struct AdminServer::State {
    State(net::io_context& context, std::string admin_token, AdminBackend& admin_backend)
        : io(context), token(std::move(admin_token)), backend(admin_backend) {}
    net::io_context& io;
    std::string token;
    AdminBackend& backend;
    std::optional<tcp::acceptor> tcp_acceptor;
    std::optional<tcp::endpoint> tcp_bound;
    std::optional<local::acceptor> unix_acceptor;
    std::filesystem::path unix_path;
    bool closed = false;
};

namespace {

template <class Protocol>
net::awaitable<void> serve_connection(std::shared_ptr<AdminServer::State> state,
                                      typename Protocol::socket socket, AdminListenerInfo info) {
    beast::basic_stream<Protocol> stream(std::move(socket));
    beast::flat_buffer buffer;
    for (int served = 0; served < kMaxRequestsPerConnection && !state->closed; ++served) {
        stream.expires_after(kRequestTimeout);
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(kHeaderLimit);
        parser.body_limit(kBodyLimit);
        beast::error_code ec;
        co_await bhttp::async_read(stream, buffer, parser,
                                   net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        const auto& request = parser.get();
        AdminRequest admin;
        admin.method = std::string(request.method_string());
        admin.target = std::string(request.target());
        admin.host = field(request, "Host");
        admin.origin = field(request, "Origin");
        admin.sec_fetch_site = field(request, "Sec-Fetch-Site");
        admin.authorization = field(request, "Authorization");
        admin.relayed = request.count("Via") != 0 || request.count("Forwarded") != 0 ||
                        request.count("X-Forwarded-For") != 0 ||
                        request.count("X-Forwarded-Host") != 0 ||
                        request.count("X-Forwarded-Proto") != 0;
        admin.body = request.body();
        if (request.count("Host") > 1) admin.host.reset();  // ambiguous: refused as bad Host
        const AdminResponse answer =
            handle_admin_request(admin, info, state->token, state->backend);

        bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(answer.status),
                                                     request.version()};
        response.set(bhttp::field::server, "cloakroom-admin");
        response.set(bhttp::field::content_type, answer.content_type);
        for (const auto& [name, value] : admin_security_headers()) response.set(name, value);
        if (answer.authenticate) {
            response.set(bhttp::field::www_authenticate, "Bearer realm=\"cloakroom-admin\"");
        }
        response.body() = request.method() == bhttp::verb::head ? std::string() : answer.body;
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        if (request.method() == bhttp::verb::head) {
            response.content_length(answer.body.size());
        }
        co_await bhttp::async_write(stream, response, net::redirect_error(net::use_awaitable, ec));
        if (ec || !request.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(Protocol::socket::shutdown_send, ignored);
}

template <class Protocol>
net::awaitable<void> accept_loop(std::shared_ptr<AdminServer::State> state,
                                 typename Protocol::acceptor& acceptor, AdminListenerInfo info) {
    for (;;) {
        beast::error_code ec;
        typename Protocol::socket socket(state->io);
        co_await acceptor.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
        if (state->closed || ec == net::error::operation_aborted) co_return;
        if (ec) continue;
        net::co_spawn(state->io, serve_connection<Protocol>(state, std::move(socket), info),
                      net::detached);
    }
}

// A stale socket file (nothing listening) is replaced; a live one belongs to another gateway.
Result<void> clear_socket_path(const std::filesystem::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
        if (errno == ENOENT) return {};
        return admin_error("cannot use " + path.string() + ": " + std::strerror(errno));
    }
    if (!S_ISSOCK(info.st_mode)) {
        return admin_error("cannot use " + path.string() + ": it exists and is not a socket");
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.string().size());
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe &&
        ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        return admin_error("another `cloakroom serve` is already listening on " + path.string());
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return admin_error("cannot replace the stale socket " + path.string());
    }
    return {};
}

Result<void> open_unix(AdminServer::State& state, const std::filesystem::path& path) {
    if (path.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
        return make_error("admin.path", "the admin socket path " + path.string() +
                                            " is too long for a unix socket");
    }
    std::error_code fs_ec;
    const auto directory = path.parent_path();
    if (!directory.empty()) {
        const bool created = std::filesystem::create_directories(directory, fs_ec);
        if (fs_ec || (created && ::chmod(directory.c_str(), 0700) != 0)) {
            return admin_error("cannot create " + directory.string());
        }
    }
    if (auto cleared = clear_socket_path(path); !cleared.ok()) return cleared.error();
    boost::system::error_code ec;
    local::acceptor acceptor(state.io);
    acceptor.open(local(), ec);
    if (!ec) acceptor.bind(local::endpoint(path.string()), ec);
    if (ec) return admin_error("cannot listen on " + path.string() + ": " + ec.message());
    // Before listen(): nobody can connect while the mode is still the umask's.
    if (::chmod(path.c_str(), 0600) != 0) {
        ::unlink(path.c_str());
        return admin_error("cannot chmod " + path.string());
    }
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        ::unlink(path.c_str());
        return admin_error("cannot listen on " + path.string() + ": " + ec.message());
    }
    state.unix_acceptor.emplace(std::move(acceptor));
    state.unix_path = path;
    return {};
}

Result<void> open_tcp(AdminServer::State& state, const config::ListenerConfig& listen) {
    boost::system::error_code ec;
    auto address = net::ip::make_address(listen.host, ec);
    if (ec && listen.host == "localhost") {
        address = net::ip::address_v4::loopback();
        ec = {};
    }
    if (ec || !address.is_loopback()) {
        return admin_error("[admin] listen \"" + listen.address + "\" must be a loopback address");
    }
    tcp::acceptor acceptor(state.io);
    const tcp::endpoint endpoint(address, listen.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return admin_error("cannot listen on " + listen.address + ": " + ec.message());
    state.tcp_bound = acceptor.local_endpoint();
    state.tcp_acceptor.emplace(std::move(acceptor));
    return {};
}

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::open(const config::AdminConfig& config,
                                                       net::io_context& io, std::string admin_token,
                                                       AdminBackend& backend) {
    auto state = std::make_shared<State>(io, std::move(admin_token), backend);
    if (config.listen) {
        if (auto opened = open_tcp(*state, *config.listen); !opened.ok()) return opened.error();
    }
    if (!config.socket.empty()) {
        if (auto opened = open_unix(*state, config.socket); !opened.ok()) return opened.error();
    }
    if (state->tcp_acceptor) {
        const AdminListenerInfo info{false, state->tcp_bound->port()};
        net::co_spawn(io, accept_loop<tcp>(state, *state->tcp_acceptor, info), net::detached);
    }
    if (state->unix_acceptor) {
        // On the socket the Host check still applies (localhost), the port cannot.
        const AdminListenerInfo info{true, 0};
        net::co_spawn(io, accept_loop<local>(state, *state->unix_acceptor, info), net::detached);
    }
    return std::unique_ptr<AdminServer>(new AdminServer(std::move(state)));
}

AdminServer::~AdminServer() {
    state_->closed = true;
    boost::system::error_code ec;
    if (state_->tcp_acceptor) state_->tcp_acceptor->close(ec);
    if (state_->unix_acceptor) {
        state_->unix_acceptor->close(ec);
        ::unlink(state_->unix_path.c_str());
    }
}

std::optional<tcp::endpoint> AdminServer::tcp_endpoint() const {
    return state_->tcp_bound;
}

std::vector<std::string> AdminServer::describe() const {
    std::vector<std::string> out;
    if (state_->tcp_bound) {
        const auto& bound = *state_->tcp_bound;
        const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                         : bound.address().to_string();
        out.push_back("http://" + host + ":" + std::to_string(bound.port()));
    }
    if (state_->unix_acceptor) out.push_back("unix socket " + state_->unix_path.string());
    return out;
}

}  // namespace cloakroom::serve
