#include "token/token_text.hpp"

#include "util/base64.hpp"

namespace cloakroom::token {
namespace {

constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kSpace = " \t\r\n\v\f";

Error header_error(std::string message) {
    return make_error("token.header", std::move(message));
}

std::string_view trim(std::string_view s) {
    const auto begin = s.find_first_not_of(kSpace);
    if (begin == std::string_view::npos) return {};
    const auto end = s.find_last_not_of(kSpace);
    return s.substr(begin, end - begin + 1);
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string encode_token(const Macaroon& macaroon, const TokenFormat& format) {
    return format.prefix + base64url_encode(encode_macaroon(macaroon));
}

Result<Macaroon> decode_token(std::string_view token, const TokenFormat& format) {
    if (!starts_with(token, format.prefix)) {
        return make_error("token.decode", "invalid token prefix (expected " + format.prefix + ")");
    }
    auto bytes = base64url_decode(token.substr(format.prefix.size()));
    if (!bytes) {
        return make_error("token.decode",
                          "decode: invalid token encoding: " + bytes.error().message);
    }
    return decode_macaroon(*bytes);
}

Result<HeaderTokens> split_header(std::string_view header, const TokenFormat& format) {
    if (header.empty()) return header_error("missing authorization header");
    if (header.size() > kMaxHeaderBytes) return header_error("authorization header too large");
    std::string_view list;
    if (starts_with(header, kBearer)) {
        list = header.substr(kBearer.size());
    } else if (!format.prefix.empty() && starts_with(header, format.prefix)) {
        list = header;
    } else {
        return header_error("invalid authorization header format");
    }

    HeaderTokens out;
    bool first = true;
    std::size_t count = 0;
    while (true) {
        const auto comma = list.find(',');
        const std::string_view element = list.substr(0, comma);
        const std::string_view token = trim(element);
        if (first) {
            if (element.empty()) return header_error("no token found");
            if (!starts_with(token, format.prefix)) {
                return header_error("invalid main token prefix");
            }
            out.main = std::string(token);
            first = false;
        } else if (!token.empty()) {
            if (!starts_with(token, format.prefix)) {
                return header_error("invalid discharge token prefix");
            }
            out.discharges.emplace_back(token);
        }
        if (++count > kMaxHeaderTokens) return header_error("too many tokens in header");
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return out;
}

}  // namespace cloakroom::token
