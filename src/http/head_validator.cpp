#include "http/head_validator.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstring>
#include <string>

#include "http/head_text.hpp"
#include "http/header_fields.hpp"
#include "http/start_line.hpp"

namespace cloakroom::http {
namespace {

using detail::Side;

constexpr unsigned kBadRequest = 400;
constexpr unsigned kUriTooLong = 414;
constexpr unsigned kFieldsTooLarge = 431;
constexpr unsigned kBadGateway = 502;
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kTerminator = "\r\n\r\n";

std::string_view side_name(Side side) {
    return side == Side::Request ? "request" : "response";
}

HeadRejection too_large(std::string reason) {
    return HeadRejection{kFieldsTooLarge, std::move(reason)};
}

// Whether every LF follows a CR and every CR but a last byte (whose LF may still come) precedes
// an LF: an LF must stand exactly where the byte before is a CR. The common case, a clean head,
// is checked 16 bytes at a time, the CR mask shifted by one against the LF mask, in one pass.
bool line_endings_clean(std::string_view bytes) {
    const char* const data = bytes.data();
    const std::size_t size = bytes.size();
    std::size_t i = 0;
    unsigned carry = 0;  // the byte before position i is a CR
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    for (; i + 16 <= size; i += 16) {
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        const auto crs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, cr)));
        const auto lfs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, lf)));
        if ((((crs << 1) | carry) & 0xFFFFu) != lfs) return false;
        carry = crs >> 15;
    }
#endif
    for (; i < size; ++i) {
        if (static_cast<unsigned>(data[i] == '\n') != carry) return false;
        carry = data[i] == '\r' ? 1 : 0;
    }
    return true;
}

// Lenient parsers end a line at a bare LF and some at a bare CR; a strict one does not. Any
// such byte is where two parsers can split the same head differently, so it is fatal.
std::optional<HeadRejection> check_line_endings(std::string_view bytes) {
    if (line_endings_clean(bytes)) return std::nullopt;
    // Which byte offends first, and in which line, for the reason: every LF must follow a CR,
    // every CR (but a last one) must precede an LF.
    const auto line_of = [&](std::size_t at) {
        std::size_t line = 1;
        for (std::size_t i = 0; i < at; ++i) line += bytes[i] == '\n' ? 1 : 0;
        return line;
    };
    const char* const data = bytes.data();
    const std::size_t size = bytes.size();
    const auto next = [&](const char* from, char c) {
        return static_cast<const char*>(std::memchr(from, c, size - (from - data)));
    };
    std::size_t bad_lf = std::string_view::npos;
    for (const char* p = next(data, '\n'); p != nullptr; p = next(p + 1, '\n')) {
        if (p == data || p[-1] != '\r') {
            bad_lf = static_cast<std::size_t>(p - data);
            break;
        }
    }
    std::size_t bad_cr = std::string_view::npos;
    for (const char* p = next(data, '\r'); p != nullptr; p = next(p + 1, '\r')) {
        if (p + 1 < data + size && p[1] != '\n') {
            bad_cr = static_cast<std::size_t>(p - data);
            break;
        }
    }
    // The first offending byte decides, as a left-to-right reader would.
    if (bad_lf < bad_cr) {
        return HeadRejection{kBadRequest, "bare LF (line ending without CR) in line " +
                                              std::to_string(line_of(bad_lf))};
    }
    if (bad_cr != std::string_view::npos) {
        return HeadRejection{
            kBadRequest, "bare CR (not followed by LF) in line " + std::to_string(line_of(bad_cr))};
    }
    return std::nullopt;
}

// The refusal for a line longer than the limit (callers check the length: a call per line
// for a comparison is not worth it).
HeadRejection line_too_long(std::string_view line, std::size_t number, const HeadLimits& limits,
                            Side side) {
    std::string reason = "line " + std::to_string(number) + " is " + std::to_string(line.size()) +
                         " bytes; the limit is " + std::to_string(limits.max_line_bytes);
    // RFC 9112 §3: an over-long request line is a target the server will not parse: 414.
    if (number == 1 && side == Side::Request) return HeadRejection{kUriTooLong, reason};
    return too_large(std::move(reason));
}

std::optional<HeadRejection> check_line_length(std::string_view line, std::size_t number,
                                               const HeadLimits& limits, Side side) {
    if (line.size() <= limits.max_line_bytes) [[likely]] {
        return std::nullopt;
    }
    return line_too_long(line, number, limits, side);
}

std::optional<HeadRejection> validate_lines(std::string_view head, const HeadLimits& limits,
                                            Side side) {
    if (head.size() > limits.max_head_bytes) {
        return too_large(std::string(side_name(side)) + " head is " + std::to_string(head.size()) +
                         " bytes; the limit is " + std::to_string(limits.max_head_bytes));
    }
    if (auto rejection = check_line_endings(head)) return rejection;
    if (!head.ends_with(kTerminator)) {
        return HeadRejection{kBadRequest, "the head does not end with CRLF CRLF"};
    }
    // Every line below ends in CRLF; the last two CRLFs are the terminator. An earlier empty
    // line (an earlier CRLF CRLF) is found by the walk over the field lines, not by a search of
    // its own over the whole head.
    const std::string_view lines = head.substr(0, head.size() - kCrlf.size());
    std::size_t number = 1;
    std::size_t end = lines.find(kCrlf);
    const std::string_view first = lines.substr(0, end);
    if (auto rejection = check_line_length(first, number, limits, side)) return rejection;
    detail::StartLine start_line;
    auto rejection = side == Side::Request ? detail::check_request_line(first, start_line)
                                           : detail::check_status_line(first, start_line);
    if (rejection) return rejection;

    detail::FieldChecker fields(side, start_line.minor_version);
    std::size_t field_count = 0;
    for (std::size_t start = end + kCrlf.size(); start < lines.size(); start = end + kCrlf.size()) {
        end = lines.find(kCrlf, start);
        const std::string_view line = lines.substr(start, end - start);
        if (line.empty()) {
            return HeadRejection{kBadRequest, "bytes follow the empty line that ends the head"};
        }
        ++number;
        if (++field_count > limits.max_fields) {
            return too_large("more than " + std::to_string(limits.max_fields) + " header fields");
        }
        if (auto too_long = check_line_length(line, number, limits, side)) return too_long;
        const bool next_is_folded =
            end + kCrlf.size() < lines.size() && detail::is_ows(lines[end + kCrlf.size()]);
        if (auto bad_field = fields.add(line, next_is_folded)) {
            // A response reason quotes nothing of the line (head_text.hpp): say which line.
            if (side == Side::Response) {
                bad_field->reason = "line " + std::to_string(number) + ": " + bad_field->reason;
            }
            return bad_field;
        }
    }
    return fields.finish();
}

std::optional<HeadRejection> for_response(std::optional<HeadRejection> rejection) {
    if (rejection) rejection->status = kBadGateway;
    return rejection;
}

std::optional<HeadRejection> check_incomplete(std::string_view buffer, const HeadLimits& limits,
                                              Side side) {
    if (buffer.size() > limits.max_head_bytes) {
        return too_large(std::string(side_name(side)) + " head exceeds " +
                         std::to_string(limits.max_head_bytes) + " bytes");
    }
    // A trailing CR may still be followed by its LF, so only a CR with a successor counts.
    if (auto rejection = check_line_endings(buffer)) return rejection;
    // Completed lines end in CRLF; the unterminated last one may end in the CR of its CRLF.
    std::size_t start = 0;
    for (std::size_t number = 1; start <= buffer.size(); ++number) {
        const std::size_t lf = buffer.find('\n', start);
        const std::size_t end = lf == std::string_view::npos ? buffer.size() : lf - 1;
        std::string_view line = buffer.substr(start, end - start);
        if (lf == std::string_view::npos && line.ends_with('\r')) line.remove_suffix(1);
        if (auto rejection = check_line_length(line, number, limits, side)) return rejection;
        if (lf == std::string_view::npos) break;
        start = lf + 1;
    }
    return std::nullopt;
}

}  // namespace

std::optional<HeadRejection> validate_request_head(std::string_view head,
                                                   const HeadLimits& limits) {
    return validate_lines(head, limits, Side::Request);
}

std::optional<HeadRejection> validate_response_head(std::string_view head,
                                                    const HeadLimits& limits) {
    return for_response(validate_lines(head, limits, Side::Response));
}

std::optional<HeadEnd> find_head_end(std::string_view buffer) {
    for (std::size_t i = buffer.find('\n'); i != std::string_view::npos;
         i = buffer.find('\n', i + 1)) {
        const bool crlf = i > 0 && buffer[i - 1] == '\r';
        const std::size_t next = i + 1;
        if (next < buffer.size() && buffer[next] == '\n') {
            return HeadEnd{next + 1, true};
        }
        if (next + 1 < buffer.size() && buffer[next] == '\r' && buffer[next + 1] == '\n') {
            return HeadEnd{next + 2, !crlf};
        }
    }
    return std::nullopt;
}

std::optional<HeadRejection> check_incomplete_request_head(std::string_view buffer,
                                                           const HeadLimits& limits) {
    return check_incomplete(buffer, limits, Side::Request);
}

std::optional<HeadRejection> check_incomplete_response_head(std::string_view buffer,
                                                            const HeadLimits& limits) {
    return for_response(check_incomplete(buffer, limits, Side::Response));
}

}  // namespace cloakroom::http
