// Streaming response redaction (DESIGN.md invariant 1: a secret never reaches the agent, even
// when the upstream echoes it). Every occurrence of any needle becomes the same number of '*',
// so Content-Length and chunk sizes stay valid and the body is rewritten in place as it streams.
//
// Matching is Aho-Corasick over the needles (linear in the input whatever the upstream sends),
// with a skip loop while no needle is in progress (memchr when all needles start with the same
// byte), so the common case -- a chunk in which no needle can start -- is one bulk append.
// The union of all occurrences is starred: with overlapping needles ("Bearer S" and "S", or two
// secrets sharing bytes) every byte that belongs to any occurrence is hidden, so no partial
// secret leaks. Occurrences split across feed() calls are found: at most (longest needle - 1)
// bytes are held back, and only while they could still be the start of a needle.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>

namespace cloakroom::proxy {

class Redactor {
  public:
    // Needles are only read here (the automaton keeps its own copy of the bytes, wiped on
    // destruction); empty needles are ignored. With no non-empty needle, feed() copies through.
    explicit Redactor(std::vector<std::string_view> needles);
    ~Redactor();
    Redactor(Redactor&&) noexcept = default;
    Redactor& operator=(Redactor&&) noexcept = default;
    Redactor(const Redactor&) = delete;
    Redactor& operator=(const Redactor&) = delete;

    // Appends the redacted form of `in` to `out`, minus the held-back tail (emitted by a later
    // feed() or by finish()). Only bytes appended by this call are ever rewritten.
    void feed(std::string_view in, std::string& out);
    // End of the stream: appends the held-back bytes (a needle prefix that never completed).
    void finish(std::string& out);
    // Starts a new stream with the same needles (counts keep accumulating).
    void reset();

    // Number of redacted regions so far (overlapping occurrences count once).
    std::size_t redactions() const { return redactions_; }
    // Bytes currently held back (< longest needle).
    std::size_t held() const { return pending_.size(); }

    // The whole-buffer form: feed + finish on a fresh stream.
    std::string redact(std::string_view text);

  private:
    struct Node {
        std::int32_t fail = 0;
        std::uint32_t first_edge = 0;
        std::uint32_t edge_count = 0;
        std::uint32_t depth = 0;
        std::uint32_t match = 0;  // length of the longest needle that is a suffix; 0 = none
    };
    struct Edge {
        unsigned char byte;
        std::int32_t target;
    };

    std::int32_t child(std::int32_t node, unsigned char byte) const;
    std::int32_t step(std::int32_t node, unsigned char byte) const;
    std::size_t skip(std::string_view in, std::size_t from) const;

    std::vector<Node> nodes_;
    std::vector<Edge> edges_;
    std::array<std::int32_t, 256> root_next_{};  // 0 = stays at the root: no needle starts here
    int single_first_byte_ = -1;                 // >= 0 when every needle starts with it
    bool empty_ = true;

    std::int32_t state_ = 0;
    std::string pending_;
    std::uint64_t position_ = 0;       // stream offset of the next byte to feed
    std::uint64_t starred_until_ = 0;  // stream offset just past the last starred byte
    std::size_t redactions_ = 0;
};

// Redacts needles inside response header values (e.g. an upstream echoing the Authorization it
// received). Field order and names are kept; only values that contained a needle change.
void redact_header_values(boost::beast::http::response_header<>& header,
                          const std::vector<std::string_view>& needles);

}  // namespace cloakroom::proxy
