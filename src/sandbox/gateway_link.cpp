#include "sandbox/gateway_link.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "sandbox/fd_passing.hpp"

namespace cloakroom::sandbox {
namespace {

Result<nlohmann::json> call(int connection, const nlohmann::json& request,
                            const std::vector<int>& fds) {
    if (auto sent = send_message(connection, request.dump(), fds); !sent.ok()) {
        return make_error("sandbox.gateway", "hand-over: " + sent.error().message);
    }
    auto reply = receive_message(connection);
    if (!reply.ok()) return make_error("sandbox.gateway", "hand-over: " + reply.error().message);
    if (reply->text.empty()) {
        return make_error("sandbox.gateway", "the gateway closed the hand-over connection");
    }
    auto parsed = nlohmann::json::parse(reply->text, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return make_error("sandbox.gateway", "the gateway's hand-over reply is not JSON");
    }
    if (!parsed.value("ok", false)) {
        return make_error("sandbox.gateway",
                          "the gateway refused: " + parsed.value("error", std::string("?")));
    }
    return parsed;
}

}  // namespace

std::filesystem::path default_handover_path(const std::filesystem::path& data_dir) {
    return data_dir / "run" / "sandbox.sock";
}

Result<UniqueFd> connect_handover(const std::filesystem::path& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.string().size() >= sizeof address.sun_path) {
        return make_error("sandbox.gateway", "hand-over socket path too long: " + path.string());
    }
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd) return make_error("sandbox.gateway", std::string("socket: ") + std::strerror(errno));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        return make_error("sandbox.gateway",
                          "no gateway at " + path.string() + ": " + std::strerror(errno));
    }
    return fd;
}

nlohmann::json adopt_request(const std::string& session, const std::string& token_id,
                             const std::vector<Listener>& listeners) {
    nlohmann::json kinds = nlohmann::json::array();
    for (const auto& listener : listeners) kinds.push_back(listener.kind);
    return {{"op", "adopt"}, {"session", session}, {"token_id", token_id}, {"listeners", kinds}};
}

Result<void> adopt(int connection, const std::string& session, const std::string& token_id,
                   const std::vector<Listener>& listeners) {
    std::vector<int> fds;
    for (const auto& listener : listeners) fds.push_back(listener.fd.get());
    auto reply = call(connection, adopt_request(session, token_id, listeners), fds);
    if (!reply.ok()) return reply.error();
    return {};
}

Result<nlohmann::json> gateway_status(int connection) {
    return call(connection, nlohmann::json{{"op", "status"}}, {});
}

}  // namespace cloakroom::sandbox
