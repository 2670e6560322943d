// RESP (REdis Serialization Protocol) pieces the Redis gateway needs, all pure (no I/O):
//  - client requests: RESP arrays of bulk strings and inline commands, parsed as redis-server 7
//    parses them (a strict subset: anything we accept, Redis reads the same way), with limits;
//  - server replies (RESP2 and RESP3, including push and attribute frames): framing only;
//  - encoders for commands and error lines.
// The stateful, incremental pieces built on these (the command filter between client and
// upstream, and the reply rewriter the other way) live in filter.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::db::redis {

struct RequestLimits {
    std::size_t max_args = 0;    // elements in one command's array
    std::size_t max_bulk = 0;    // bytes in one argument
    std::size_t max_inline = 0;  // bytes in one inline command line
};

// Before authentication (redis-server itself allows 10 arguments of 16 KiB there; tokens can be
// longer than 16 KiB with many caveats, commands before login are at most HELLO's 7 arguments).
inline constexpr RequestLimits kPreAuthLimits{16, 64 * 1024, 64 * 1024};
// After login: redis-server's own limits (proto-max-bulk-len's default 512 MiB, inline 64 KiB,
// array length up to INT_MAX); the filter never buffers argument bodies, so these only reject
// what redis-server would reject too.
inline constexpr RequestLimits kSessionLimits{2147483647, 512 * 1024 * 1024, 64 * 1024};

enum class ParseStatus { Complete, Incomplete, Invalid };

struct ParsedCommand {
    ParseStatus status = ParseStatus::Incomplete;
    // Complete: the arguments (args[0] is the command name as sent). Empty for an input that runs
    // nothing (a blank inline line, "*0\r\n"), which redis-server skips silently.
    std::vector<std::string> args;
    std::size_t consumed = 0;  // Complete: bytes of `input` this command used
    std::string error;         // Invalid: "Protocol error: ..." (never quotes the input)
};

// Parses one whole command from the front of `input` (login phase; arguments are kept whole).
ParsedCommand parse_command(std::string_view input, const RequestLimits& limits);

// redis-server's sdssplitargs for an inline command line (without its line ending): words split
// on white space, "double quotes" with \n \r \t \b \a \xHH escapes, 'single quotes' with \'.
// False on unbalanced quotes. A NUL byte ends the line, as in redis-server's C-string parsing.
bool split_inline(std::string_view line, std::vector<std::string>& args);

// Strict decimal for RESP lengths: "0" or [1-9][0-9]* (optionally "-" first when
// `allow_negative`), at most 18 digits. False when malformed.
bool parse_length(std::string_view digits, bool allow_negative, std::int64_t& value);

// *N\r\n$len\r\narg\r\n... for a command.
std::string encode_command(const std::vector<std::string>& args);
// "-<text>\r\n" with CR, LF and other control bytes in `text` turned into spaces.
std::string error_reply(std::string_view text);

// ---- Replies (server -> client) ----

struct ReplyFrame {
    ParseStatus status = ParseStatus::Incomplete;
    std::size_t size = 0;  // Complete: bytes of the whole reply (attributes before it included)
    char type = 0;         // first byte of the reply proper ('+', '-', '*', '%', ...)
};

// Frames one complete reply at the front of `input` (RESP2 or RESP3). Invalid for bytes that are
// no reply, a streamed ("$?"/"*?") reply, nesting deeper than `max_depth` or a header line over
// 64 bytes.
ReplyFrame frame_reply(std::string_view input, std::size_t max_depth = 64);

// The error text of a reply that is a simple or blob error ('-' / '!'), without the type byte
// and line ending; "" for other replies.
std::string reply_error_text(std::string_view reply);

// Upper-case copy (ASCII) for case-insensitive command names.
std::string ascii_upper(std::string_view text);

}  // namespace cloakroom::db::redis
