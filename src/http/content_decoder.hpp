// Content codings (RFC 9110 §8.4) Cloakroom can undo, so that a compressed response body is
// redacted as the bytes the agent will read (docs/redaction.md): gzip, deflate (zlib-wrapped or
// raw, both are seen in the wild), br and zstd, stacked in any order. Pure: bytes in, bytes out.
//
// A decompression bomb is refused, not followed: the decoded size may not exceed
// max(kExpansionFloor, kMaxExpansionRatio × compressed bytes so far), checked as output grows in
// steps of at most kDecodeStep bytes, so a bomb costs at most that bound in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::http {

enum class ContentCoding { Identity, Gzip, Deflate, Brotli, Zstd };

// The coding a Content-Encoding token names (case-insensitive; "x-gzip" is gzip), or nullopt
// for one Cloakroom cannot decode.
std::optional<ContentCoding> parse_content_coding(std::string_view token);

// Every coding of a Content-Encoding field value (comma-separated, in the order applied), or
// nullopt when one of them cannot be decoded. Identity entries are dropped.
std::optional<std::vector<ContentCoding>> parse_content_encoding(std::string_view value);

// What to ask the upstream for: the agent's Accept-Encoding narrowed to the codings Cloakroom
// decodes, "identity" when none is left (or the agent sent none), and "identity" for a range
// request (a byte range of a compressed body cannot be decoded on its own).
std::string decodable_accept_encoding(std::optional<std::string_view> agent_value,
                                      bool range_request);

inline constexpr std::uint64_t kMaxExpansionRatio = 200;
inline constexpr std::uint64_t kExpansionFloor = 4u << 20;  // 4 MiB: small bodies expand freely
inline constexpr std::size_t kDecodeStep = 16u << 10;

class BodyDecoder {
  public:
    enum class Status {
        Ok,
        Corrupt,  // not valid data for its coding, or truncated at the end
        Bomb,     // the decoded size went past the expansion cap
    };

    // `codings` as listed in Content-Encoding (applied left to right; decoded right to left).
    explicit BodyDecoder(const std::vector<ContentCoding>& codings);
    ~BodyDecoder();
    BodyDecoder(BodyDecoder&&) noexcept;
    BodyDecoder& operator=(BodyDecoder&&) noexcept;

    // Decodes `in` (the next bytes of the body as received), appending the result to `out`.
    Status feed(std::string_view in, std::string& out);
    // The body ended: Corrupt when a coding's stream was left incomplete.
    Status finish(std::string& out);

    std::uint64_t bytes_in() const { return bytes_in_; }
    std::uint64_t bytes_out() const { return bytes_out_; }

    class Stage;  // one coding (content_decoder.cpp)

  private:
    Status run(std::size_t stage, std::string_view in, std::string& out, bool last);

    std::vector<std::unique_ptr<Stage>> stages_;  // in decoding order
    std::vector<std::string> between_;            // scratch between stages
    std::uint64_t bytes_in_ = 0;
    std::uint64_t bytes_out_ = 0;
    std::size_t out_start_ = 0;
};

}  // namespace cloakroom::http
