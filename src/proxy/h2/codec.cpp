#include "proxy/h2/codec.hpp"

#include "http/hop_by_hop.hpp"
#include "util/ascii.hpp"

namespace cloakroom::proxy::h2 {

void RequestFields::add(std::string_view name, std::string_view value) {
    if (too_large_) return;
    // What the HTTP/1.1 text will take: "name: value\r\n".
    bytes_ += name.size() + value.size() + 4;
    if (bytes_ > limits_.max_head_bytes || fields_.size() >= limits_.max_fields) {
        too_large_ = true;
        fields_.clear();
        return;
    }
    if (!name.empty() && name.front() == ':') {
        if (name == ":method") {
            method_.assign(value);
        } else if (name == ":scheme") {
            scheme_.assign(value);
        } else if (name == ":authority") {
            authority_.assign(value);
        } else if (name == ":path") {
            path_.assign(value);
        } else if (name == ":protocol") {
            protocol_.assign(value);
        }
        return;  // nghttp2 refuses any other pseudo-header
    }
    fields_.emplace_back(std::string(name), std::string(value));
}

bool RequestFields::websocket() const {
    return method_ == "CONNECT" && ascii_iequals(protocol_, "websocket");
}

std::variant<std::string, runtime::Refusal> RequestFields::to_http1(
    bool has_body, std::string_view websocket_key) const {
    using runtime::Refusal;
    if (too_large_) {
        return Refusal{431, "header_too_large",
                       "the request's header list exceeds the gateway's limits"};
    }
    const bool upgrade = websocket();
    if (method_ == "CONNECT" && protocol_.empty()) {
        // A tunnel inside the intercepted connection would carry bytes no plan looked at.
        return Refusal{501, "not_implemented",
                       "CONNECT over HTTP/2 is not supported, except extended CONNECT for a "
                       "WebSocket (RFC 8441, :protocol websocket)"};
    }
    if (!protocol_.empty() && !upgrade) {
        // nghttp2 lets :protocol through only on a CONNECT; the protocol itself is ours to
        // judge, and its name is the agent's bytes, not quoted back.
        return Refusal{501, "not_implemented",
                       "extended CONNECT is supported for the websocket protocol only"};
    }
    if (upgrade && websocket_key.empty()) {
        return Refusal{500, "internal_error", "no WebSocket key for the upstream handshake"};
    }
    // :authority names the host the credential is for (invariant 2); a Host field that says
    // otherwise would make the two disagree about it.
    std::string_view host = authority_;
    bool has_length = false;
    for (const auto& [name, value] : fields_) {
        if (name == "host") {
            if (!host.empty() && value != host) {
                return Refusal{400, "bad_request", "the :authority and Host fields differ"};
            }
            host = value;
        } else if (name == "content-length") {
            has_length = true;
        }
    }
    if (upgrade && has_length) {
        // The stream's DATA is the WebSocket, not a body of a length.
        return Refusal{400, "bad_request", "an extended CONNECT carries no content-length"};
    }
    std::string text;
    text.reserve(bytes_ + 192);
    text.append(upgrade ? std::string_view("GET") : std::string_view(method_))
        .append(" ")
        .append(path_)
        .append(" HTTP/1.1\r\n");
    text.append("Host: ").append(host).append("\r\n");
    if (upgrade) {
        text.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ")
            .append(websocket_key)
            .append("\r\n");
    }
    std::string cookies;  // RFC 9113 §8.2.3: crumbs joined with "; " for HTTP/1.1
    for (const auto& [name, value] : fields_) {
        if (name == "host") continue;
        // The key is the gateway's: the upstream's answer is checked against it.
        if (upgrade && name == "sec-websocket-key") continue;
        if (name == "cookie") {
            if (!cookies.empty()) cookies.append("; ");
            cookies.append(value);
            continue;
        }
        text.append(name).append(": ").append(value).append("\r\n");
    }
    if (!cookies.empty()) text.append("cookie: ").append(cookies).append("\r\n");
    if (has_body && !has_length && !upgrade) text.append("Transfer-Encoding: chunked\r\n");
    text.append("\r\n");
    if (auto rejection = http::validate_request_head(text, limits_)) {
        const unsigned status = rejection->status;
        return Refusal{status,
                       status == 431 ? "header_too_large"
                                     : (status == 501 ? "not_implemented" : "bad_request"),
                       rejection->reason};
    }
    return text;
}

bool is_connection_specific(std::string_view name) {
    return http::is_hop_by_hop(name) || ascii_iequals(name, "Transfer-Encoding") ||
           ascii_iequals(name, "Host");
}

void HeaderList::add(std::string_view name, std::string_view value) {
    std::string& lower = owned_.emplace_back(name);
    for (char& c : lower) c = ascii_lower(c);
    std::string& copy = owned_.emplace_back(value);
    nv_.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(lower.data()),
                             reinterpret_cast<std::uint8_t*>(copy.data()), lower.size(),
                             copy.size(), NGHTTP2_NV_FLAG_NONE});
}

void HeaderList::response(const http::Head& head) {
    add(":status", std::to_string(head.status()));
    for (const http::HeadField& field : head.fields()) {
        if (is_connection_specific(field.name)) continue;
        add(field.name, field.value);
    }
}

void HeaderList::fields(const std::vector<std::pair<std::string, std::string>>& fields) {
    for (const auto& [name, value] : fields) {
        if (is_connection_specific(name)) continue;
        add(name, value);
    }
}

}  // namespace cloakroom::proxy::h2
