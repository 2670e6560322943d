// Token text and the Authorization header (README §3.1): prefix + unpadded base64url of the
// msgpack macaroon; header "[Bearer ]main[,discharge...]".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "token/macaroon.hpp"
#include "util/result.hpp"

namespace cloakroom::token {

struct TokenFormat {
    std::string prefix = "acm_";         // agent-creds' prefix, so tokens move between the two
    std::string location = "cloakroom";  // written into tokens Cloakroom mints (not signed)
};

inline constexpr std::size_t kMaxHeaderBytes = 256 * 1024;
inline constexpr std::size_t kMaxHeaderTokens = 32;

std::string encode_token(const Macaroon& macaroon, const TokenFormat& format);

// Prefix, strict base64url, strict macaroon decode. Error code "token.decode".
Result<Macaroon> decode_token(std::string_view token, const TokenFormat& format);

struct HeaderTokens {
    std::string main;
    std::vector<std::string> discharges;
};

// agent-creds' header rules: optional "Bearer " (exact case, one space), otherwise the header
// itself must start with the prefix; comma-separated, each element whitespace-trimmed, empty
// elements after the first skipped; every token must carry the prefix. A bare token is a
// header too. Error code "token.header".
Result<HeaderTokens> split_header(std::string_view header, const TokenFormat& format);

}  // namespace cloakroom::token
