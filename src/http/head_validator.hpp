// Strict HTTP/1.1 head validation, run on the raw bytes before Boost.Beast parses them.
// Security invariant 8 (docs/architecture.md): ambiguous framing is rejected, never guessed.
// Beast 1.74 accepts duplicate identical Content-Length, obs-fold and "Transfer-Encoding: chunked,
// gzip"; a proxy that lets such a head through can disagree with the upstream about where a message
// ends (request smuggling). Everything this validator accepts, Beast accepts too
// (tests/unit/http_beast_agreement_test.cpp, fuzz/http_head_fuzz.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cloakroom::http {

struct HeadLimits {
    std::size_t max_head_bytes = 64 * 1024;  // start line + fields + terminator
    std::size_t max_fields = 100;
    std::size_t max_line_bytes = 16 * 1024;  // one line, without its CRLF
};

struct HeadRejection {
    // Requests: 400 (malformed or ambiguous), 414 (request line too long), 431 (head too large,
    // too many fields, header line too long), 501 (unsupported transfer coding).
    // Responses: always 502, since the client did nothing wrong.
    unsigned status;
    // Precise and safe to show the agent: at most ~64 bytes of the offending input, with every
    // byte outside printable ASCII written as \xNN.
    std::string reason;
};

// head = the bytes from the first byte up to and including the terminating CRLF CRLF.
std::optional<HeadRejection> validate_request_head(std::string_view head,
                                                   const HeadLimits& limits = {});
std::optional<HeadRejection> validate_response_head(std::string_view head,
                                                    const HeadLimits& limits = {});

struct HeadEnd {
    std::size_t size;           // index one past the terminator
    bool malformed_terminator;  // ended by "\n\n", "\r\n\n" or "\n\r\n" instead of CRLF CRLF
};

// Finds the end of the head in a buffer, or nullopt if no terminator has arrived yet. A lenient
// terminator (bare LF involved) is reported as soon as it appears so the caller can reject at
// once instead of waiting for a CRLF CRLF that never comes; validate_*_head on buffer[0, size)
// then gives the precise reason.
std::optional<HeadEnd> find_head_end(std::string_view buffer);

// For a buffer that holds no complete head yet: a rejection if waiting for more bytes cannot
// help (already over max_head_bytes, an unterminated line already over max_line_bytes, a bare
// LF or bare CR already received). nullopt means "keep reading".
std::optional<HeadRejection> check_incomplete_request_head(std::string_view buffer,
                                                           const HeadLimits& limits = {});
std::optional<HeadRejection> check_incomplete_response_head(std::string_view buffer,
                                                            const HeadLimits& limits = {});

}  // namespace cloakroom::http
