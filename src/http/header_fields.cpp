#include "http/header_fields.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>

#include "http/authority.hpp"
#include "http/head_text.hpp"

namespace cloakroom::http::detail {
namespace {

constexpr unsigned kBadRequest = 400;
constexpr unsigned kNotImplemented = 501;
// 2^53: the largest length every JSON/JavaScript consumer of audit records counts exactly,
// and far beyond any body this proxy streams.
constexpr std::uint64_t kMaxContentLength = std::uint64_t{1} << 53;
constexpr std::size_t kMaxSignificantDigits = 16;  // 2^53 has 16 digits

HeadRejection bad(std::string reason) {
    return HeadRejection{kBadRequest, std::move(reason)};
}

std::optional<HeadRejection> check_name(Side side, std::string_view name) {
    if (name.empty()) return bad("a header line starts with ':' (empty field name)");
    if (is_ows(name.back())) {
        return bad("whitespace between header name" + shown_name(side, trim_ows(name)) +
                   " and ':' is not allowed");
    }
    // Branch-free scan first (the common case is a clean name); the failing byte is looked
    // up only to word the reason.
    bool clean = true;
    for (char c : name) clean &= is_tchar(c);
    if (clean) return std::nullopt;
    for (char c : name) {
        if (!is_tchar(c)) {
            return bad("header name" + shown_name(side, name) + " contains an invalid character" +
                       shown_byte(side, c));
        }
    }
    return std::nullopt;
}

std::optional<HeadRejection> check_value(Side side, std::string_view name, std::string_view value) {
    if (all_field_value_chars(value)) return std::nullopt;
    for (char c : value) {
        if (!is_field_value_char(c)) {
            return bad("value of header" + shown_name(side, name) + " contains a control byte" +
                       shown_byte(side, c));
        }
    }
    return std::nullopt;
}

// Connection and Proxy-Connection decide which fields are hop-by-hop. Beast refuses a value
// that is not a comma list of tokens (empty elements allowed); refusing it here keeps the
// validator at least as strict as Beast. Naming a framing field there is hop-by-hop abuse: a
// proxy that honours it strips Content-Length and the body becomes the next request.
std::optional<HeadRejection> check_connection(Side side, std::string_view name,
                                              std::string_view value) {
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) comma = value.size();
        const std::string_view element = trim_ows(value.substr(start, comma - start));
        if (!element.empty() && !is_token(element)) {
            return bad("the" + shown_name(side, name) + " value" + shown(side, value) +
                       " is not a list of tokens");
        }
        if (is_framing_field(element)) {
            return bad("the" + shown_name(side, name) + " field must not name" +
                       shown_name(side, element) + ", which frames the message");
        }
        start = comma + 1;
    }
    return std::nullopt;
}

}  // namespace

std::optional<HeadRejection> FieldChecker::add(std::string_view line, bool next_is_folded) {
    if (line.empty()) return bad("empty header line");
    // Folded lines are caught by the look-ahead on the line before; only the first field line
    // has no line before it.
    if (std::exchange(first_, false) && is_ows(line.front())) {
        return bad("whitespace before the first header field is not allowed");
    }
    const std::size_t colon = line.find(':');
    if (next_is_folded) {
        return bad("obs-fold (line folding) in header" +
                   shown_name(side_, trim_ows(line.substr(0, colon))) + " is not allowed");
    }
    if (colon == std::string_view::npos) {
        return bad("header line" + shown(side_, line) + " has no ':'");
    }
    const std::string_view name = line.substr(0, colon);
    if (auto rejection = check_name(side_, name)) return rejection;
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (auto rejection = check_value(side_, name, value)) return rejection;
    return check_framing(name, value);
}

std::optional<HeadRejection> FieldChecker::check_framing(std::string_view name,
                                                         std::string_view value) {
    // By length first: most fields are none of these, and a length compare rejects them at once.
    switch (name.size()) {
        case 4:
            if (side_ == Side::Request && iequals(name, "Host")) return check_host(value);
            break;
        case 10:
            if (iequals(name, "Connection")) return check_connection(side_, name, value);
            break;
        case 14:
            if (iequals(name, "Content-Length")) return check_content_length(value);
            break;
        case 16:
            if (iequals(name, "Proxy-Connection")) return check_connection(side_, name, value);
            break;
        case 17:
            if (iequals(name, "Transfer-Encoding")) return check_transfer_encoding(value);
            break;
        default:
            break;
    }
    return std::nullopt;
}

std::optional<HeadRejection> FieldChecker::check_content_length(std::string_view value) {
    if (has_content_length_) {
        return bad("more than one Content-Length field (even identical ones are refused)");
    }
    has_content_length_ = true;
    if (has_transfer_encoding_) {
        return bad("Content-Length together with Transfer-Encoding is ambiguous framing");
    }
    if (value.find(',') != std::string_view::npos) {
        return bad("Content-Length" + shown(side_, value) +
                   " is a list; exactly one number is allowed");
    }
    if (value.empty()) return bad("Content-Length is empty");
    for (char c : value) {
        if (!is_digit(c)) {
            return bad("Content-Length" + shown(side_, value) +
                       " is not a decimal number (1*DIGIT)");
        }
    }
    // Leading zeros are valid 1*DIGIT; only the significant digits can overflow.
    const std::size_t first_significant = value.find_first_not_of('0');
    const std::string_view digits = first_significant == std::string_view::npos
                                        ? std::string_view()
                                        : value.substr(first_significant);
    std::uint64_t length = 0;
    if (digits.size() <= kMaxSignificantDigits) {
        for (char c : digits) length = length * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (digits.size() > kMaxSignificantDigits || length > kMaxContentLength) {
        return bad("Content-Length" + shown(side_, value) + " is larger than 2^53");
    }
    return std::nullopt;
}

std::optional<HeadRejection> FieldChecker::check_transfer_encoding(std::string_view value) {
    if (has_transfer_encoding_) return bad("more than one Transfer-Encoding field");
    has_transfer_encoding_ = true;
    if (has_content_length_) {
        return bad("Content-Length together with Transfer-Encoding is ambiguous framing");
    }
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (minor_version_ == 0) return bad("Transfer-Encoding in an HTTP/1.0 message");
    if (value.empty()) return bad("Transfer-Encoding is empty");
    // Only a single "chunked" is understood. Any other coding, even one followed by chunked,
    // would make Cloakroom relay a body it cannot decode or re-frame.
    bool seen_chunked = false;
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) comma = value.size();
        const std::string_view coding = trim_ows(value.substr(start, comma - start));
        if (!is_token(coding)) {
            return bad("Transfer-Encoding" + shown(side_, value) + " is not a list of codings");
        }
        if (!iequals(coding, "chunked")) {
            return HeadRejection{kNotImplemented, "transfer coding" + shown(side_, coding) +
                                                      " is not supported (only chunked)"};
        }
        if (seen_chunked) return bad("Transfer-Encoding applies chunked more than once");
        seen_chunked = true;
        start = comma + 1;
    }
    return std::nullopt;
}

std::optional<HeadRejection> FieldChecker::check_host(std::string_view value) {
    if (has_host_) return bad("more than one Host field");
    has_host_ = true;
    if (auto problem = authority_problem(value, PortRule::Optional)) {
        return bad("Host " + quote(value) + " is not host[:port]: " + *problem);
    }
    return std::nullopt;
}

std::optional<HeadRejection> FieldChecker::finish() const {
    if (side_ == Side::Request && minor_version_ == 1 && !has_host_) {
        return bad("an HTTP/1.1 request must have a Host field");
    }
    return std::nullopt;
}

}  // namespace cloakroom::http::detail
