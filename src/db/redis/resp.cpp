#include "db/redis/resp.hpp"

#include <cstdio>

namespace cloakroom::db::redis {
namespace {

// Longest "*<count>\r\n" / "$<len>\r\n" header we read: 18 digits and a sign are plenty.
constexpr std::size_t kMaxHeaderLine = 32;

bool is_space(char c) {  // C isspace() in the "C" locale, as sdssplitargs uses it
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string describe_byte(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f && c != '\'') return std::string(1, c);
    char text[8];
    std::snprintf(text, sizeof text, "\\x%02x", byte);
    return text;
}

ParsedCommand invalid(std::string error) {
    ParsedCommand result;
    result.status = ParseStatus::Invalid;
    result.error = std::move(error);
    return result;
}

// One "<type><number>\r\n" header at `pos`. Returns Complete (value, next set), Incomplete or
// Invalid.
ParseStatus read_header(std::string_view input, std::size_t pos, bool allow_negative,
                        std::int64_t& value, std::size_t& next) {
    const std::size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) {
        return input.size() - pos > kMaxHeaderLine ? ParseStatus::Invalid : ParseStatus::Incomplete;
    }
    if (end - pos > kMaxHeaderLine || end < pos + 2 || input[end - 1] != '\r') {
        return ParseStatus::Invalid;
    }
    if (!parse_length(input.substr(pos + 1, end - 1 - (pos + 1)), allow_negative, value)) {
        return ParseStatus::Invalid;
    }
    next = end + 1;
    return ParseStatus::Complete;
}

}  // namespace

std::string ascii_upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

bool parse_length(std::string_view digits, bool allow_negative, std::int64_t& value) {
    bool negative = false;
    if (allow_negative && !digits.empty() && digits.front() == '-') {
        negative = true;
        digits.remove_prefix(1);
    }
    if (digits.empty() || digits.size() > 18) return false;
    if (digits.front() == '0' && (digits.size() > 1 || negative)) return false;
    std::int64_t result = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return false;
        result = result * 10 + (c - '0');
    }
    value = negative ? -result : result;
    return true;
}

bool split_inline(std::string_view line, std::vector<std::string>& args) {
    args.clear();
    if (const std::size_t nul = line.find('\0'); nul != std::string_view::npos) {
        line = line.substr(0, nul);
    }
    std::size_t p = 0;
    const std::size_t n = line.size();
    auto at = [&](std::size_t i) -> char { return i < n ? line[i] : '\0'; };
    for (;;) {
        while (p < n && is_space(line[p])) ++p;
        if (p >= n) return true;
        bool in_double = false;
        bool in_single = false;
        bool done = false;
        std::string current;
        while (!done) {
            const char c = at(p);
            if (in_double) {
                if (c == '\\' && at(p + 1) == 'x' && hex_value(at(p + 2)) >= 0 &&
                    hex_value(at(p + 3)) >= 0) {
                    current.push_back(
                        static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
                    p += 3;
                } else if (c == '\\' && at(p + 1) != '\0') {
                    ++p;
                    switch (at(p)) {
                        case 'n':
                            current.push_back('\n');
                            break;
                        case 'r':
                            current.push_back('\r');
                            break;
                        case 't':
                            current.push_back('\t');
                            break;
                        case 'b':
                            current.push_back('\b');
                            break;
                        case 'a':
                            current.push_back('\a');
                            break;
                        default:
                            current.push_back(at(p));
                            break;
                    }
                } else if (c == '"') {
                    // A closing quote must be followed by a space or the end.
                    if (at(p + 1) != '\0' && !is_space(at(p + 1))) return false;
                    done = true;
                } else if (c == '\0') {
                    return false;  // unterminated quotes
                } else {
                    current.push_back(c);
                }
            } else if (in_single) {
                if (c == '\\' && at(p + 1) == '\'') {
                    ++p;
                    current.push_back('\'');
                } else if (c == '\'') {
                    if (at(p + 1) != '\0' && !is_space(at(p + 1))) return false;
                    done = true;
                } else if (c == '\0') {
                    return false;
                } else {
                    current.push_back(c);
                }
            } else {
                switch (c) {
                    case ' ':
                    case '\n':
                    case '\r':
                    case '\t':
                    case '\0':
                        done = true;
                        break;
                    case '"':
                        in_double = true;
                        break;
                    case '\'':
                        in_single = true;
                        break;
                    default:
                        current.push_back(c);
                        break;
                }
            }
            if (p < n) ++p;
        }
        args.push_back(std::move(current));
    }
}

ParsedCommand parse_command(std::string_view input, const RequestLimits& limits) {
    ParsedCommand result;
    if (input.empty()) return result;
    if (input.front() != '*') {
        const std::size_t end = input.find('\n');
        if (end == std::string_view::npos) {
            if (input.size() > limits.max_inline) {
                return invalid("Protocol error: too big inline request");
            }
            return result;
        }
        if (end > limits.max_inline) return invalid("Protocol error: too big inline request");
        std::string_view line = input.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!split_inline(line, result.args)) {
            return invalid("Protocol error: unbalanced quotes in request");
        }
        if (result.args.size() > limits.max_args) {
            return invalid("Protocol error: too many arguments in a command (at most " +
                           std::to_string(limits.max_args) + " here)");
        }
        result.status = ParseStatus::Complete;
        result.consumed = end + 1;
        return result;
    }
    std::int64_t count = 0;
    std::size_t pos = 0;
    switch (read_header(input, 0, true, count, pos)) {
        case ParseStatus::Incomplete:
            return result;
        case ParseStatus::Invalid:
            return invalid("Protocol error: invalid multibulk length");
        case ParseStatus::Complete:
            break;
    }
    if (count > 0 && static_cast<std::uint64_t>(count) > limits.max_args) {
        return invalid("Protocol error: too many arguments in a command (at most " +
                       std::to_string(limits.max_args) + " here)");
    }
    std::vector<std::string> args;
    for (std::int64_t i = 0; i < count; ++i) {
        if (pos >= input.size()) return result;
        if (input[pos] != '$') {
            return invalid("Protocol error: expected '$', got '" + describe_byte(input[pos]) + "'");
        }
        std::int64_t length = 0;
        switch (read_header(input, pos, false, length, pos)) {
            case ParseStatus::Incomplete:
                return result;
            case ParseStatus::Invalid:
                return invalid("Protocol error: invalid bulk length");
            case ParseStatus::Complete:
                break;
        }
        if (static_cast<std::uint64_t>(length) > limits.max_bulk) {
            return invalid("Protocol error: argument too long (at most " +
                           std::to_string(limits.max_bulk) + " bytes here)");
        }
        const auto size = static_cast<std::size_t>(length);
        if (input.size() - pos < size + 2) return result;
        if (input[pos + size] != '\r' || input[pos + size + 1] != '\n') {
            return invalid("Protocol error: expected CRLF after an argument");
        }
        args.emplace_back(input.substr(pos, size));
        pos += size + 2;
    }
    result.status = ParseStatus::Complete;
    result.args = std::move(args);
    result.consumed = pos;
    return result;
}

std::string encode_command(const std::vector<std::string>& args) {
    std::size_t total = 16;
    for (const auto& arg : args) total += arg.size() + 16;
    std::string out;
    out.reserve(total);
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (const auto& arg : args) {
        out += '$';
        out += std::to_string(arg.size());
        out += "\r\n";
        out += arg;
        out += "\r\n";
    }
    return out;
}

std::string error_reply(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 3);
    out += '-';
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        out += (byte < 0x20 || byte == 0x7f) ? ' ' : c;
    }
    out += "\r\n";
    return out;
}

ReplyFrame frame_reply(std::string_view input, std::size_t max_depth) {
    struct Level {
        std::int64_t remaining;
        bool attribute;
    };
    std::vector<Level> stack;
    ReplyFrame frame;
    std::size_t pos = 0;
    auto fail = [&] {
        ReplyFrame bad;
        bad.status = ParseStatus::Invalid;
        return bad;
    };
    for (;;) {
        if (pos >= input.size()) return frame;  // Incomplete
        const char type = input[pos];
        if (stack.empty() && type != '|') frame.type = type;
        bool element_done = false;
        switch (type) {
            case '+':
            case '-':
            case ':':
            case ',':
            case '#':
            case '_':
            case '(': {
                const std::size_t end = input.find('\n', pos);
                if (end == std::string_view::npos) return frame;
                if (end == pos || input[end - 1] != '\r') return fail();
                pos = end + 1;
                element_done = true;
                break;
            }
            case '$':
            case '!':
            case '=': {
                std::int64_t length = 0;
                std::size_t next = 0;
                const ParseStatus header = read_header(input, pos, type == '$', length, next);
                if (header == ParseStatus::Incomplete) return frame;
                if (header == ParseStatus::Invalid || length < -1) return fail();
                pos = next;
                if (length >= 0) {
                    const auto size = static_cast<std::size_t>(length);
                    if (input.size() - pos < size + 2) return frame;
                    if (input[pos + size] != '\r' || input[pos + size + 1] != '\n') return fail();
                    pos += size + 2;
                }
                element_done = true;
                break;
            }
            case '*':
            case '~':
            case '>':
            case '%':
            case '|': {
                std::int64_t count = 0;
                std::size_t next = 0;
                const ParseStatus header = read_header(input, pos, type == '*', count, next);
                if (header == ParseStatus::Incomplete) return frame;
                if (header == ParseStatus::Invalid || count < -1) return fail();
                pos = next;
                if (count <= 0) {
                    // Null or empty aggregate: complete at once. An empty attribute is nothing.
                    element_done = type != '|';
                    break;
                }
                if (stack.size() >= max_depth) return fail();
                const bool pairs = type == '%' || type == '|';
                stack.push_back(Level{pairs ? count * 2 : count, type == '|'});
                break;
            }
            default:
                return fail();
        }
        while (element_done) {
            if (stack.empty()) {
                frame.status = ParseStatus::Complete;
                frame.size = pos;
                return frame;
            }
            if (--stack.back().remaining > 0) break;
            const bool attribute = stack.back().attribute;
            stack.pop_back();
            // An attribute annotates the value after it; it is no element of its own.
            if (attribute) break;
        }
    }
}

std::string reply_error_text(std::string_view reply) {
    if (reply.empty()) return {};
    if (reply.front() == '-') {
        const std::size_t end = reply.find_first_of("\r\n");
        return std::string(reply.substr(1, end == std::string_view::npos ? end : end - 1));
    }
    if (reply.front() == '!') {
        std::int64_t length = 0;
        std::size_t next = 0;
        if (read_header(reply, 0, false, length, next) != ParseStatus::Complete) return {};
        if (reply.size() - next < static_cast<std::size_t>(length)) return {};
        return std::string(reply.substr(next, static_cast<std::size_t>(length)));
    }
    return {};
}

}  // namespace cloakroom::db::redis
