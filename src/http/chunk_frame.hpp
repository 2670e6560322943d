// Chunked transfer coding on output (RFC 9112 §7.1): the bytes around one piece of body. The
// proxy decodes chunked bodies with Beast's parser and writes them out again itself, one chunk
// per piece it relays, so that heads and framing are both its own bytes.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace cloakroom::http {

class ChunkFrame {
  public:
    // For a piece of `size` bytes (0: none) and whether it is the last one: `before()` goes
    // in front of the piece ("1a2b\r\n"), `after()` behind it ("\r\n", then "0\r\n\r\n" to end
    // the body when `last`). An empty piece gets no chunk of its own, since a zero-size chunk
    // would end the body. Views are valid until the next frame() or the object's end.
    void frame(std::size_t size, bool last) {
        before_size_ = 0;
        after_size_ = 0;
        if (size > 0) {
            constexpr std::string_view kDigits = "0123456789abcdef";
            std::array<char, 16> reversed{};
            std::size_t digits = 0;
            for (std::size_t rest = size; rest != 0; rest >>= 4) {
                reversed[digits++] = kDigits[rest & 0xf];
            }
            while (digits > 0) before_[before_size_++] = reversed[--digits];
            append(before_, before_size_, "\r\n");
            append(after_, after_size_, "\r\n");
        }
        if (last) append(after_, after_size_, "0\r\n\r\n");
    }
    std::string_view before() const { return {before_.data(), before_size_}; }
    std::string_view after() const { return {after_.data(), after_size_}; }

  private:
    template <std::size_t N>
    static void append(std::array<char, N>& out, std::size_t& size, std::string_view text) {
        for (char c : text) out[size++] = c;
    }

    std::array<char, 20> before_{};
    std::array<char, 8> after_{};
    std::size_t before_size_ = 0;
    std::size_t after_size_ = 0;
};

}  // namespace cloakroom::http
