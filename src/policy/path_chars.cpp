#include "policy/path_chars.hpp"

#include <array>

namespace cloakroom::policy::detail {
namespace {

constexpr std::array<char, 16> kHexUpper = {'0', '1', '2', '3', '4', '5', '6', '7',
                                            '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Characters that are not valid raw in an RFC 3986 path but carry no structure for any server we
// know of; encoding them (rather than refusing) keeps sloppy clients working.
bool encode_when_raw(unsigned char c) {
    switch (c) {
        case '"':
        case '<':
        case '>':
        case '[':
        case ']':
        case '^':
        case '`':
        case '{':
        case '|':
        case '}':
            return true;
        default:
            return false;
    }
}

void append_escape(std::string& out, unsigned char value) {
    out.push_back('%');
    out.push_back(kHexUpper[value >> 4]);
    out.push_back(kHexUpper[value & 0x0f]);
}

}  // namespace

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

std::string describe_byte(unsigned char c) {
    std::string out;
    if (c > 0x20 && c < 0x7f) {
        out = "'";
        out.push_back(static_cast<char>(c));
        out += "'";
        return out;
    }
    out = "0x";
    out.push_back(kHexUpper[c >> 4]);
    out.push_back(kHexUpper[c & 0x0f]);
    return out;
}

Result<std::string> canonicalize_path_chars(std::string_view text,
                                            const PathCharsOptions& options) {
    auto fail = [&](std::size_t offset, const std::string& what) -> Result<std::string> {
        return make_error(std::string(options.error_code),
                          std::string(options.label) + ": " + what + " at offset " +
                              std::to_string(options.offset_base + offset) + " is refused");
    };

    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == 0) return fail(i, "NUL byte");
        if (c < 0x20 || c == 0x7f) return fail(i, "control byte " + describe_byte(c));
        if (c >= 0x80) {
            return fail(
                i, "non-ASCII byte " + describe_byte(c) + " (percent-encode UTF-8, e.g. %C3%A9)");
        }
        if (c == ' ') return fail(i, "raw space (encode it as %20)");
        // A backslash is a separator to some servers (IIS, many Windows stacks) and data to
        // others; Cloakroom cannot know which, so it checks neither interpretation.
        if (c == '\\') return fail(i, "raw backslash");
        // Clients never send a fragment; a '#' here means a broken client or a parser-confusion
        // attempt, and upstreams disagree on whether it ends the path.
        if (c == '#') return fail(i, "'#' (fragments are never sent; encode it as %23)");
        // Path parameters: Tomcat, Jetty and Spring drop ";..." from each segment before they
        // route, so "/v1/public/..;/admin" is "/v1/admin" to them and "/v1/admin;x/keys" escapes
        // a deny rule on "/v1/admin/**". The gateway forwards exactly the path it checked and
        // cannot know the upstream's reading, so it checks neither: a raw ';' is refused (fail
        // closed). "%3B" stays data, to those servers too (they split before decoding).
        if (c == ';') {
            return fail(i,
                        "';' (a path parameter, which some servers drop before routing; "
                        "encode a literal ';' as %3B)");
        }
        if (c != '%') {
            if (encode_when_raw(c)) {
                append_escape(out, c);
            } else {
                out.push_back(static_cast<char>(c));
            }
            continue;
        }
        if (text.size() - i < 3) return fail(i, "truncated percent escape");
        const int hi = hex_value(text[i + 1]);
        const int lo = hex_value(text[i + 2]);
        if (hi < 0 || lo < 0) return fail(i, "malformed percent escape (needs two hex digits)");
        const auto value = static_cast<unsigned char>(hi * 16 + lo);
        if (value == 0) return fail(i, "encoded NUL %00");
        if ((value == '/' || value == '\\') && !options.allow_encoded_slash) {
            std::string spelled = "%";
            spelled.push_back(kHexUpper[value >> 4]);
            spelled.push_back(kHexUpper[value & 0x0f]);
            return fail(
                i, std::string(value == '/' ? "encoded slash " : "encoded backslash ") + spelled);
        }
        if (is_unreserved(value)) {
            out.push_back(static_cast<char>(value));
        } else {
            append_escape(out, value);
        }
        i += 2;
    }
    return out;
}

}  // namespace cloakroom::policy::detail
