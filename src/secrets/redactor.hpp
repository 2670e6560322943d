// Streaming response redaction (docs/architecture.md, invariant 1: a secret never reaches the
// agent, even when the upstream echoes it). Every occurrence of any needle becomes the same number
// of '*', so Content-Length and chunk sizes stay valid and the body is rewritten in place as it
// streams.
//
// Matching is Aho-Corasick over the needles (linear in the input whatever the upstream sends),
// with a skip loop while no needle is in progress: when every needle has at least 4 bytes, one
// byte pair every (shortest needle - 1) bytes against the pairs of the needles' first bytes;
// otherwise memchr on the needles' first bytes when they are few. So the common case -- a chunk
// in which no needle can start -- is one bulk append.
// The union of all occurrences is starred: with overlapping needles ("Bearer S" and "S", or two
// secrets sharing bytes) every byte that belongs to any occurrence is hidden, so no partial
// secret leaks. Occurrences split across feed() calls are found: at most (longest needle - 1)
// bytes are held back, and only while they could still be the start of a needle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::secrets {

namespace detail {

class RedactorAutomaton;  // redactor.cpp

// Test hooks for the per-thread automaton cache; they see and affect the calling thread only.
struct RedactorCacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
};
RedactorCacheStats redactor_cache_stats();
// On: every needle set hashes alike, so a lookup can only tell sets apart by their full bytes.
void redactor_cache_collide_hashes(bool on);

}  // namespace detail

class Redactor;

// A needle set compiled once for many Redactors (and redact_header_values): a cached injection
// keeps one, so a response costs no cache lookup at all. Shares the automaton, which keeps its
// own copy of the needles (wiped when the last holder goes).
class CompiledNeedles {
  public:
    CompiledNeedles() = default;
    // Empty needles are ignored; with none left, empty() is true.
    explicit CompiledNeedles(std::vector<std::string_view> needles);
    bool empty() const { return automaton_ == nullptr; }
    // A Redactor for these needles at the start of a stream.
    Redactor redactor() const;

    // Whether any needle occurs in `text` (one pass, no copy).
    bool contains(std::string_view text) const;

  private:
    std::shared_ptr<const detail::RedactorAutomaton> automaton_;
};

class Redactor {
  public:
    // Needles are only read here (the automaton keeps its own copy of the bytes, wiped on
    // destruction); empty needles are ignored. With no non-empty needle, feed() copies through.
    // The compiled automaton is immutable and cached per thread, keyed by the needles' exact
    // bytes (see redactor.cpp), so a Redactor for the same secrets as a recent one is a lookup.
    explicit Redactor(std::vector<std::string_view> needles);
    ~Redactor();
    Redactor(Redactor&&) noexcept = default;
    Redactor& operator=(Redactor&&) noexcept = default;
    Redactor(const Redactor&) = delete;
    Redactor& operator=(const Redactor&) = delete;

    // Appends the redacted form of `in` to `out`, minus the held-back tail (emitted by a later
    // feed() or by finish()). Only bytes appended by this call are ever rewritten.
    void feed(std::string_view in, std::string& out);
    // feed() without the copy, for a caller that owns the bytes (a relay's read buffer): `in`
    // is redacted where it lies. What goes out, in order: the bytes held back by the previous
    // call (appended to `before`), then the first N bytes of `in`, N returned; the rest of `in`
    // is held back. `last`: the stream ends with `in` (nothing held back, as feed + finish).
    // Same matches and hold-back rule as feed().
    std::size_t feed_in_place(std::span<char> in, std::string& before, bool last);
    // End of the stream: appends the held-back bytes (a needle prefix that never completed).
    void finish(std::string& out);
    // Starts a new stream with the same needles (counts keep accumulating).
    void reset();

    // Whether a stream of `length` bytes can hold a needle (false for one shorter than the
    // shortest needle, or with no needle): a caller with a whole short stream may copy it as
    // feed() + finish() would.
    bool may_match(std::size_t length) const;

    // Number of redacted regions so far (overlapping occurrences count once).
    std::size_t redactions() const { return redactions_; }
    // Bytes currently held back (< longest needle).
    std::size_t held() const { return pending_.size(); }

    // The whole-buffer form: feed + finish on a fresh stream.
    std::string redact(std::string_view text);

  private:
    friend class CompiledNeedles;

    // Runs the automaton over `in` (the stream's next bytes), calling star(end, length) for
    // each occurrence ending at in[end - 1].
    template <class Star>
    void scan(std::string_view in, Star&& star);
    // How many of the last bytes fed a later match could still start in.
    std::size_t held_back_path() const;

    // The compiled needles (immutable, shared through a per-thread cache); null when there is
    // no non-empty needle (or after a move).
    std::shared_ptr<const detail::RedactorAutomaton> automaton_;

    std::int32_t state_ = 0;
    std::string pending_;
    std::uint64_t position_ = 0;       // stream offset of the next byte to feed
    std::uint64_t starred_until_ = 0;  // stream offset just past the last starred byte
    std::size_t redactions_ = 0;
};

}  // namespace cloakroom::secrets
