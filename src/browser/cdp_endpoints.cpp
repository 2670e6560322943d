#include "browser/cdp_endpoints.hpp"

#include <nlohmann/json.hpp>

namespace cloakroom::browser {
namespace {

using nlohmann::json;

bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        if (!is_id_char(c)) return false;
    }
    return true;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string string_field(const json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// One /json/list entry for the agent: WebSocket URL through the proxy, no front-end URL.
json agent_view(const json& entry, std::string_view proxy_authority) {
    json out = entry;
    out.erase("devtoolsFrontendUrl");
    out.erase("devtoolsFrontendUrlCompat");
    std::string id = string_field(entry, "id");
    if (entry.contains("webSocketDebuggerUrl")) {
        out["webSocketDebuggerUrl"] =
            "ws://" + std::string(proxy_authority) + "/devtools/page/" + id;
    }
    return out;
}

std::optional<json> parse(std::string_view body) {
    json value = json::parse(body.begin(), body.end(), nullptr, false);
    if (value.is_discarded()) return std::nullopt;
    return value;
}

TargetInfo info_of(const json& entry) {
    return TargetInfo{string_field(entry, "id"), string_field(entry, "type"),
                      string_field(entry, "title"), string_field(entry, "url")};
}

}  // namespace

CdpRequest classify_cdp_request(std::string_view method, std::string_view target, bool upgrade) {
    CdpRequest request;
    std::size_t question = target.find('?');
    std::string_view path = target.substr(0, question);
    std::string_view query =
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
    if (upgrade) {
        if (method != "GET") return request;
        if (path == "/devtools/browser" ||
            (path.starts_with("/devtools/browser/") && valid_id(path.substr(18)))) {
            request.endpoint = CdpEndpoint::BrowserSocket;
        } else if (path.starts_with("/devtools/page/") && valid_id(path.substr(15))) {
            request.endpoint = CdpEndpoint::PageSocket;
            request.target_id = std::string(path.substr(15));
        }
        return request;
    }
    if ((path == "/json" || path == "/json/list") && method == "GET") {
        request.endpoint = CdpEndpoint::List;
    } else if ((path == "/json/version" || path == "/json/version/") && method == "GET") {
        // Playwright asks for "/json/version/" (Chrome answers both); the proxy answers it
        // from its own request for "/json/version".
        request.endpoint = CdpEndpoint::Version;
    } else if (path == "/json/protocol" && method == "GET") {
        request.endpoint = CdpEndpoint::Protocol;
    } else if (path == "/json/new" && method == "PUT") {
        auto url = percent_decode(query);
        if (!url) return request;
        request.endpoint = CdpEndpoint::New;
        request.url = query.empty() ? "about:blank" : *url;
    } else if (path.starts_with("/json/activate/") && valid_id(path.substr(15)) &&
               (method == "GET" || method == "PUT")) {
        request.endpoint = CdpEndpoint::Activate;
        request.target_id = std::string(path.substr(15));
    } else if (path.starts_with("/json/close/") && valid_id(path.substr(12)) &&
               (method == "GET" || method == "PUT")) {
        request.endpoint = CdpEndpoint::Close;
        request.target_id = std::string(path.substr(12));
    }
    return request;
}

bool is_loopback_host_header(std::string_view host) {
    std::string_view name = host;
    if (host.starts_with('[')) {
        std::size_t close = host.find(']');
        if (close == std::string_view::npos) return false;
        name = host.substr(0, close + 1);
        std::string_view rest = host.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) return false;
        host = rest;
    } else {
        std::size_t colon = host.find(':');
        name = host.substr(0, colon);
        host = colon == std::string_view::npos ? std::string_view{} : host.substr(colon);
    }
    if (host.starts_with(':')) {
        std::string_view port = host.substr(1);
        if (port.empty() || port.size() > 5) return false;
        for (char c : port) {
            if (c < '0' || c > '9') return false;
        }
    }
    return name == "localhost" || name == "127.0.0.1" || name == "[::1]";
}

std::optional<std::string> filter_target_list(std::string_view body, const CdpTargetPolicy& policy,
                                              std::string_view proxy_authority) {
    auto list = parse(body);
    if (!list || !list->is_array()) return std::nullopt;
    json out = json::array();
    for (const auto& entry : *list) {
        if (!entry.is_object()) continue;
        if (policy.allows(info_of(entry))) out.push_back(agent_view(entry, proxy_authority));
    }
    return dump(out);
}

std::optional<std::string> filter_target(std::string_view body, const CdpTargetPolicy& policy,
                                         std::string_view proxy_authority, bool owned) {
    auto entry = parse(body);
    if (!entry || !entry->is_object() || !policy.allows(info_of(*entry), owned)) {
        return std::nullopt;
    }
    return dump(agent_view(*entry, proxy_authority));
}

std::optional<std::string> rewrite_version(std::string_view body,
                                           std::string_view proxy_authority) {
    auto version = parse(body);
    if (!version || !version->is_object()) return std::nullopt;
    auto path = browser_socket_path(body);
    (*version)["webSocketDebuggerUrl"] =
        "ws://" + std::string(proxy_authority) + (path ? *path : "/devtools/browser");
    return dump(*version);
}

std::optional<std::string> browser_socket_path(std::string_view version_body) {
    auto version = parse(version_body);
    if (!version || !version->is_object()) return std::nullopt;
    std::string url = string_field(*version, "webSocketDebuggerUrl");
    std::size_t at = url.find("/devtools/browser/");
    if (at == std::string::npos) return std::nullopt;
    std::string path = url.substr(at);
    if (!valid_id(std::string_view(path).substr(18))) return std::nullopt;
    return path;
}

}  // namespace cloakroom::browser
