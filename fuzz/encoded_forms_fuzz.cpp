// libFuzzer target for the derived redaction needles (secrets/encoded_forms.hpp) with the
// streaming redactor (docs/redaction.md). For a random secret embedded in random text in a random
// encoding (base64 standard or URL-safe at any offset, hex, percent, JSON), cut at random points:
//   - the streamed output equals the whole-buffer redaction (chunk boundaries change nothing);
//   - the encoded secret never survives: not as the encoded text, and for base64 not in both
//     decodings of the output that read the stars as all-zero and as all-one sextets.
//
// Input layout: byte 0 picks the encoding, byte 1 the secret length (4..35), byte 2 the offset
// (0..15) of the secret inside the blob, byte 3 seeds the chunk sizes; then the secret, then the
// surrounding text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/encoded_forms.hpp"
#include "secrets/redactor.hpp"
#include "util/base64.hpp"

namespace {

#define require(c) require_at((c), __LINE__)
void require_at(bool condition, int line) {
    if (condition) return;
    std::fprintf(stderr, "require failed at line %d\n", line);
    std::abort();
}

std::string percent_upper(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~';
        if (unreserved) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 15]);
        }
    }
    return out;
}

// Base64 of either alphabet, '=' ignored, trailing bits dropped; '*' read as `star`.
std::string lenient_base64(std::string_view text, unsigned star) {
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
        unsigned v = 0;
        if (c >= 'A' && c <= 'Z') {
            v = static_cast<unsigned>(c - 'A');
        } else if (c >= 'a' && c <= 'z') {
            v = static_cast<unsigned>(c - 'a') + 26;
        } else if (c >= '0' && c <= '9') {
            v = static_cast<unsigned>(c - '0') + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else if (c == '*') {
            v = star;
        } else {
            continue;
        }
        bits = (bits << 6) | v;
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xFF));
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cloakroom;
    if (size < 8) return 0;
    const unsigned kind = data[0] % 6;
    const std::size_t secret_length = 4 + data[1] % 32;
    const std::size_t offset = data[2] % 16;
    std::uint32_t seed = data[3];
    if (size < 4 + secret_length) return 0;
    const std::string secret(reinterpret_cast<const char*>(data + 4), secret_length);
    const std::string context(reinterpret_cast<const char*>(data + 4 + secret_length),
                              size - 4 - secret_length);
    const std::string before = context.substr(0, std::min(offset, context.size()));
    const std::string after = context.substr(before.size());

    std::string encoded;
    switch (kind) {
        case 0:
            encoded = base64_encode(before + secret + after);
            break;
        case 1:
            encoded = base64url_encode(before + secret + after);
            break;
        case 2:
            encoded = secrets::hex_forms(secret).back();
            break;
        case 3:
            encoded = percent_upper(secret);
            break;
        default: {
            const auto json = secrets::json_forms(secret);
            encoded = json.empty() ? secret : json[(kind - 4 + seed) % json.size()];
            break;
        }
    }
    const std::string text = (kind <= 1 ? "" : before) + encoded + (kind <= 1 ? "" : after);

    std::vector<std::string> forms = secrets::redaction_forms(secret);
    const std::vector<std::string_view> needles(forms.begin(), forms.end());
    std::size_t longest = 0;
    for (const auto& form : forms) longest = std::max(longest, form.size());

    secrets::Redactor redactor(needles);
    std::string out;
    std::size_t from = 0;
    while (from < text.size()) {
        seed = seed * 1103515245u + 12345u;
        const std::size_t chunk = std::min<std::size_t>((seed >> 16) % 40, text.size() - from);
        redactor.feed(std::string_view(text).substr(from, chunk), out);
        require(redactor.held() < longest);
        from += chunk;
    }
    redactor.finish(out);
    require(out.size() == text.size());
    require(out == redactor.redact(text));

    // The decoding check needs a secret that the stars cannot spell by accident: with very
    // few distinct bytes (four zero bytes, say) the stable parts also match the context's own
    // runs and the stars there decode to the secret in both readings.
    std::size_t distinct = 0;
    for (int b = 0; b < 256; ++b) {
        distinct += secret.find(static_cast<char>(b)) != std::string::npos ? 1 : 0;
    }
    if (kind <= 1 && distinct >= 6) {
        // A starred character decodes to whatever it is read as: read the stars once as all-zero
        // and once as all-one sextets. A copy of the secret that survived is in both decodings;
        // one made up by the stars is in at most one of them.
        const bool in_zeros = lenient_base64(out, 0).find(secret) != std::string::npos;
        const bool in_ones = lenient_base64(out, 63).find(secret) != std::string::npos;
        require(!(in_zeros && in_ones));
    } else if (kind > 1) {
        require(out.find(encoded) == std::string::npos);
    }
    return 0;
}
