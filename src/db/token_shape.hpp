// Whether a user (or database) name a client sent is a Cloakroom token: the common mistake of
// sending the token as the user name (`psql "postgres://$TOKEN@host/db"`, `mysql -u $TOKEN`,
// `AUTH <token> <token>`). Such a name is never echoed in a reply, a log line or the audit record:
// the sessions say "a token was sent as the user name" instead. Header-only and pure, so the
// protocol codecs (which the fuzz targets link without the sessions) can use it.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace cloakroom::db {

inline constexpr std::string_view kDefaultTokenPrefix = "acm_";
// What replaces a token-shaped name in audit records and messages.
inline constexpr std::string_view kTokenShapedName = "(a token; not shown)";
inline constexpr std::string_view kTokenAsUserHint =
    "a token was sent as the user name; send it as the password, and the login name as the user";

// True when `name` starts with the configured token prefix or the default "acm_" (in any case),
// contains either after other text (a pasted "Bearer acm_..."), or is long and made only of the
// characters a token's body uses (a token whose prefix was cut off).
inline bool looks_like_token(std::string_view name, std::string_view prefix = kDefaultTokenPrefix) {
    auto lower = [](std::string_view text) {
        std::string out(text);
        std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
            return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        });
        return out;
    };
    const std::string folded = lower(name);
    for (const std::string_view candidate : {prefix, kDefaultTokenPrefix}) {
        if (candidate.empty()) continue;
        const std::string p = lower(candidate);
        const std::size_t at = folded.find(p);
        if (at == 0 || (at != std::string::npos && name.size() >= at + p.size() + 16)) return true;
    }
    constexpr std::size_t kLongestPlainName = 48;
    if (name.size() < kLongestPlainName) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '+' || c == '/' || c == '=';
    });
}

// `name` for an audit record or a message: as given, unless it looks like a token.
inline std::string shown_name(std::string_view name,
                              std::string_view prefix = kDefaultTokenPrefix) {
    return looks_like_token(name, prefix) ? std::string(kTokenShapedName) : std::string(name);
}

}  // namespace cloakroom::db
