#include "http/start_line.hpp"

#include <cstddef>
#include <string>

#include "http/authority.hpp"
#include "http/head_text.hpp"

namespace cloakroom::http::detail {
namespace {

constexpr unsigned kBadRequest = 400;

HeadRejection bad(std::string reason) {
    return HeadRejection{kBadRequest, std::move(reason)};
}

std::optional<HeadRejection> check_version(Side side, std::string_view version, StartLine& out) {
    if (version == "HTTP/1.1" || version == "HTTP/1.0") {
        out.minor_version = version.back() - '0';
        return std::nullopt;
    }
    return bad("unsupported HTTP version" + shown(side, version) +
               " (only HTTP/1.1 and HTTP/1.0, case-sensitive)");
}

bool is_scheme(std::string_view scheme) {
    if (scheme.empty()) return false;
    const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(scheme.front())) return false;
    for (char c : scheme) {
        if (!alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
    }
    return true;
}

// RFC 9112 §3.2: origin-form for most methods, absolute-form through a proxy, authority-form
// only for CONNECT, asterisk-form only for OPTIONS. Anything else is a request the proxy
// could only guess at.
std::optional<HeadRejection> check_target_form(std::string_view method, std::string_view target) {
    if (target.find('#') != std::string_view::npos) {
        return bad("request target " + quote(target) + " contains a fragment ('#')");
    }
    if (method == "CONNECT") {
        if (auto problem = authority_problem(target, PortRule::Required)) {
            return bad("CONNECT target " + quote(target) + " is not host:port: " + *problem);
        }
        return std::nullopt;
    }
    if (target == "*") {
        if (method == "OPTIONS") return std::nullopt;
        return bad("the asterisk-form target '*' is only allowed with OPTIONS");
    }
    if (target.front() == '/') return std::nullopt;
    const std::size_t colon = target.find(':');
    if (colon != std::string_view::npos && is_scheme(target.substr(0, colon))) {
        return std::nullopt;
    }
    return bad("request target " + quote(target) +
               " is neither origin-form ('/path') nor absolute-form ('scheme://...')");
}

std::optional<HeadRejection> check_target(std::string_view method, std::string_view target) {
    if (target.empty()) return bad("the request target is empty");
    for (char c : target) {
        if (c == ' ') return bad("request target " + quote(target) + " contains a space");
        if (!is_target_char(c)) {
            return bad("request target " + quote(target) + " contains byte " + quote_byte(c));
        }
    }
    return check_target_form(method, target);
}

}  // namespace

std::optional<HeadRejection> check_request_line(std::string_view line, StartLine& out) {
    if (line.empty()) return bad("the request line is empty");
    if (line == "PRI * HTTP/2.0") return bad("HTTP/2 prior knowledge is not supported");
    const std::size_t first = line.find(' ');
    const std::size_t last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
        return bad("request line " + quote(line) + " is not 'METHOD SP target SP HTTP/1.1'");
    }
    const std::string_view method = line.substr(0, first);
    const std::string_view target = line.substr(first + 1, last - first - 1);
    const std::string_view version = line.substr(last + 1);
    if (method.empty()) return bad("the request line starts with a space");
    if (!is_token(method)) return bad("invalid method " + quote(method));
    if (version.empty()) return bad("the request line ends with a space");
    if (!target.empty() && (target.front() == ' ' || target.back() == ' ')) {
        return bad("request line " + quote(line) + " has consecutive spaces");
    }
    if (auto rejection = check_target(method, target)) return rejection;
    return check_version(Side::Request, version, out);
}

// Response side: no byte of the line appears in a reason (head_text.hpp).
std::optional<HeadRejection> check_status_line(std::string_view line, StartLine& out) {
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) {
        return bad("the status line is not 'HTTP/1.1 SP code SP reason'");
    }
    if (auto rejection = check_version(Side::Response, line.substr(0, space), out)) {
        return rejection;
    }
    const std::string_view rest = line.substr(space + 1);
    const bool digits = rest.size() >= 3 && is_digit(rest[0]) && is_digit(rest[1]) &&
                        is_digit(rest[2]) && rest[0] != '0';
    if (!digits || rest.size() < 4 || rest[3] != ' ') {
        return bad("the status line does not have a status code 100-999 followed by a space");
    }
    for (char c : rest.substr(4)) {
        if (!is_field_value_char(c)) {
            return bad("the reason phrase contains a control byte");
        }
    }
    return std::nullopt;
}

}  // namespace cloakroom::http::detail
