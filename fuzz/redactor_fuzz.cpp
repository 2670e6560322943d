// libFuzzer target for the streaming response redactor (docs/architecture.md, invariant 1). Beyond
// "no crash": for random needles and random chunk boundaries the streamed output must equal a naive
// whole-buffer replacement of every (overlapping) occurrence, keep the length, and never hold
// back a whole needle.
//
// Input layout: byte 0 picks the needle count (1-4) and a small alphabet mask; then per needle a
// length byte (1-16) and its bytes; then one byte seeding the chunk sizes; the rest is the text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/redactor.hpp"

namespace {

void require(bool condition) {
    if (!condition) std::abort();
}

std::string naive(std::string_view text, const std::vector<std::string_view>& needles) {
    std::string out(text);
    for (const auto needle : needles) {
        for (std::size_t at = text.find(needle); at != std::string_view::npos;
             at = text.find(needle, at + 1)) {
            std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), needle.size(), '*');
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t count = 1 + (data[0] & 3);
    // A small alphabet makes overlaps and near-misses likely: bytes are folded into 'a'..'d'.
    const bool fold = (data[0] & 4) != 0;
    auto byte_at = [&](std::size_t i) {
        const char c = static_cast<char>(data[i]);
        return fold ? static_cast<char>('a' + (data[i] & 3)) : c;
    };
    std::size_t at = 1;
    std::vector<std::string> owned;
    while (owned.size() < count && at < size) {
        const std::size_t length = 1 + (data[at++] & 15);
        std::string needle;
        for (std::size_t k = 0; k < length && at < size; ++k) needle.push_back(byte_at(at++));
        if (!needle.empty()) owned.push_back(std::move(needle));
    }
    if (owned.empty() || at >= size) return 0;
    std::uint32_t seed = data[at++];
    std::string text;
    for (; at < size; ++at) text.push_back(byte_at(at));

    const std::vector<std::string_view> needles(owned.begin(), owned.end());
    std::size_t longest = 0;
    for (const auto& n : owned) longest = std::max(longest, n.size());

    cloakroom::secrets::Redactor redactor(needles);
    std::string out;
    std::size_t from = 0;
    while (from < text.size()) {
        seed = seed * 1103515245u + 12345u;
        const std::size_t chunk = std::min<std::size_t>((seed >> 16) % 24, text.size() - from);
        redactor.feed(std::string_view(text).substr(from, chunk), out);
        require(redactor.held() < longest);
        from += chunk;
    }
    redactor.finish(out);
    require(redactor.held() == 0);
    require(out.size() == text.size());
    require(out == naive(text, needles));
    // The whole-buffer form agrees too.
    require(redactor.redact(text) == out);
    return 0;
}
