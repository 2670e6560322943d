#include "serve/handover_message.hpp"

#include <nlohmann/json.hpp>

namespace cloakroom::serve {
namespace {

using nlohmann::json;

Error bad(std::string message) {
    return make_error("handover.request", std::move(message));
}

bool printable(std::string_view text) {
    for (const char c : text) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

bool lower_hex(std::string_view text) {
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

constexpr std::string_view kDatabasePrefix = "database:";
constexpr std::size_t kMaxDatabaseName = 253;  // the configuration's limit

std::string shown(std::string_view text) {
    std::string out(text.substr(0, 32));
    if (!printable(out)) return "?";
    return out;
}

// The configuration's rule for [[database]] names: letters, digits, '-', '_' and '.'.
bool database_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxDatabaseName) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

Result<HandoverListener> parse_kind(const json& value) {
    if (!value.is_string()) return bad("\"listeners\" must be a list of strings");
    const auto& name = value.get_ref<const std::string&>();
    for (const auto kind : {ListenerKind::Forward, ListenerKind::Transparent, ListenerKind::Dns,
                            ListenerKind::DnsTcp, ListenerKind::Cdp, ListenerKind::Connector}) {
        if (name == kind_name(kind)) return HandoverListener{kind, {}};
    }
    if (name.starts_with(kDatabasePrefix)) {
        const std::string_view database = std::string_view(name).substr(kDatabasePrefix.size());
        if (database.empty()) return bad("listener kind \"database:\" names no database");
        if (!database_name(database)) {
            return bad("listener kind \"database:" + shown(database) +
                       "\": a database name is 1 to 253 letters, digits, '-', '_' or '.'");
        }
        return HandoverListener{ListenerKind::Database, std::string(database)};
    }
    return bad("unknown listener kind \"" + shown(name) +
               "\" (expected forward, transparent, dns, dns-tcp, cdp, connector or "
               "database:NAME)");
}

}  // namespace

std::string_view kind_name(ListenerKind kind) {
    switch (kind) {
        case ListenerKind::Forward:
            return "forward";
        case ListenerKind::Transparent:
            return "transparent";
        case ListenerKind::Dns:
            return "dns";
        case ListenerKind::DnsTcp:
            return "dns-tcp";
        case ListenerKind::Database:
            return "database";
        case ListenerKind::Cdp:
            return "cdp";
        case ListenerKind::Connector:
            return "connector";
    }
    return "?";
}

std::string HandoverListener::name() const {
    if (kind == ListenerKind::Database) return std::string(kDatabasePrefix) + database;
    return std::string(kind_name(kind));
}

Result<HandoverRequest> parse_handover_request(std::string_view text, std::size_t fd_count) {
    const json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded()) return bad("bad JSON");
    if (!message.is_object()) return bad("the message must be a JSON object");
    const auto op = message.find("op");
    if (op == message.end() || !op->is_string()) return bad("\"op\" (a string) is missing");
    HandoverRequest request;
    const auto& op_name = op->get_ref<const std::string&>();
    if (op_name == "status") {
        if (fd_count != 0) return bad("\"status\" takes no file descriptors");
        request.op = HandoverRequest::Op::Status;
        return request;
    }
    if (op_name != "adopt") {
        return bad("unknown op \"" + shown(op_name) + "\" (expected \"adopt\" or \"status\")");
    }
    request.op = HandoverRequest::Op::Adopt;
    const auto session = message.find("session");
    if (session == message.end() || !session->is_string()) {
        return bad("\"session\" (a string) is missing");
    }
    request.session = session->get<std::string>();
    if (request.session.empty() || request.session.size() > 64 || !printable(request.session)) {
        return bad("\"session\" must be 1 to 64 printable ASCII characters");
    }
    if (const auto token = message.find("token_id"); token != message.end()) {
        if (!token->is_string()) return bad("\"token_id\" must be a string");
        request.token_id = token->get<std::string>();
        if (request.token_id.size() > 128 || !lower_hex(request.token_id)) {
            return bad("\"token_id\" must be lower-case hex");
        }
    }
    const auto listeners = message.find("listeners");
    if (listeners == message.end() || !listeners->is_array()) {
        return bad("\"listeners\" (a list of listener kinds) is missing");
    }
    if (listeners->empty()) return bad("\"listeners\" is empty");
    if (listeners->size() > kMaxHandoverFds) {
        return bad("\"listeners\" names more than " + std::to_string(kMaxHandoverFds) + " sockets");
    }
    for (const auto& value : *listeners) {
        auto kind = parse_kind(value);
        if (!kind.ok()) return kind.error();
        request.listeners.push_back(*kind);
    }
    std::size_t connectors = 0;
    for (const auto& listener : request.listeners) {
        if (listener.kind == ListenerKind::Connector) ++connectors;
    }
    if (connectors > 1) return bad("\"listeners\" names more than one connector");
    if (request.listeners.size() != fd_count) {
        return bad("\"listeners\" names " + std::to_string(request.listeners.size()) +
                   " sockets but " + std::to_string(fd_count) + " came with the message");
    }
    return request;
}

std::string handover_ok() {
    return R"({"ok":true})";
}

std::string handover_error(std::string_view message) {
    return json{{"ok", false}, {"error", message}}.dump(-1, ' ', false,
                                                        json::error_handler_t::replace);
}

std::string handover_status(const std::vector<HandoverSession>& sessions) {
    json list = json::array();
    for (const auto& session : sessions) {
        list.push_back({{"session", session.session},
                        {"token_id", session.token_id},
                        {"listeners", session.listeners}});
    }
    return json{{"ok", true}, {"sessions", std::move(list)}}.dump(-1, ' ', false,
                                                                  json::error_handler_t::replace);
}

}  // namespace cloakroom::serve
