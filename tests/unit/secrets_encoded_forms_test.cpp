// The needles derived from a secret (secrets/encoded_forms.hpp): every form an upstream may echo
// it in is starred by the streaming redactor, wherever it sits and however the stream is cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "generated_secret.hpp"
#include "secrets/encoded_forms.hpp"
#include "secrets/redactor.hpp"
#include "util/base64.hpp"

namespace cloakroom::secrets {
namespace {

bool has(const std::vector<std::string>& forms, std::string_view form) {
    return std::find(forms.begin(), forms.end(), form) != forms.end();
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng() & 0xFF);
    return out;
}

// A redactor over every needle derived from `values`.
struct FormsRedactor {
    std::vector<std::string> owned;
    std::vector<std::string_view> views;
    explicit FormsRedactor(std::initializer_list<std::string_view> values) {
        for (const std::string_view value : values) {
            for (std::string& form : redaction_forms(value)) owned.push_back(std::move(form));
        }
        views.assign(owned.begin(), owned.end());
    }
    Redactor redactor() const { return Redactor(views); }
};

// Base64 decoding that maps '*' (a starred character) to 'A', so a redacted blob still decodes
// and the test can look for what is left of the secret in the bytes.
std::string decode_starred(std::string text, bool url_safe) {
    std::replace(text.begin(), text.end(), '*', 'A');
    if (url_safe) {
        while (text.size() % 4 != 0) text.push_back('=');
        std::replace(text.begin(), text.end(), '-', '+');
        std::replace(text.begin(), text.end(), '_', '/');
    }
    auto decoded = base64_decode(text);
    EXPECT_TRUE(decoded.ok()) << text;
    return decoded.ok() ? *decoded : std::string();
}

// Whether any run of `window` bytes of `secret` occurs in `text`.
bool leaks(std::string_view text, std::string_view secret, std::size_t window) {
    for (std::size_t i = 0; i + window <= secret.size(); ++i) {
        if (text.find(secret.substr(i, window)) != std::string_view::npos) return true;
    }
    return false;
}

TEST(SecretsEncodedForms, StablePartIsInEveryContextAtItsAlignment) {
    std::mt19937 rng(7);
    for (std::size_t n : {1, 2, 3, 4, 5, 8, 13, 40}) {
        const std::string value = random_bytes(rng, n);
        for (std::size_t offset = 0; offset < 9; ++offset) {
            for (int trial = 0; trial < 20; ++trial) {
                const std::string blob =
                    random_bytes(rng, offset) + value + random_bytes(rng, rng() % 4);
                for (const bool url_safe : {false, true}) {
                    const std::string part =
                        base64_stable_part(value, static_cast<unsigned>(offset % 3), url_safe);
                    const std::string encoded =
                        url_safe ? base64url_encode(blob) : base64_encode(blob);
                    EXPECT_NE(encoded.find(part), std::string::npos)
                        << "n=" << n << " offset=" << offset;
                }
            }
        }
    }
}

TEST(SecretsEncodedForms, StablePartIsAsLongAsTheBitsAllow) {
    // 8n bits at bit offset 8a: the sextets entirely inside. 12 bytes: 16 characters at
    // alignment 0, 15 at 1 (bits 8..104: characters 2..16) and 15 at 2 (bits 16..112: 3..17).
    const std::string value(12, 'k');
    EXPECT_EQ(base64_stable_part(value, 0, false).size(), 16u);
    EXPECT_EQ(base64_stable_part(value, 1, false).size(), 15u);
    EXPECT_EQ(base64_stable_part(value, 2, false).size(), 15u);
    EXPECT_EQ(base64_stable_part("abc", 0, false), "YWJj");
    EXPECT_EQ(base64_stable_part("", 1, false), "");
    // "xabc" encodes as eGFiYw==: 'G' mixes bits of 'x', 'w' would mix the following byte, so
    // "abc" at alignment 1 is "FiY".
    EXPECT_EQ(base64_stable_part("abc", 1, false), "FiY");
}

TEST(SecretsEncodedForms, JsonForms) {
    const std::vector<std::string> forms = json_forms("a/b+c<d\"e\\f\xc3\xb6g");
    for (const std::string expected : {
             "a\\/b+c<d\\\"e\\\\f\xc3\xb6g",                        // PHP
             "a/b+c\\u003cd\\\"e\\\\f\xc3\xb6g",                    // Go (HTML-safe)
             "a/b\\u002Bc\\u003Cd\\\"e\\\\f\xc3\xb6g",              // .NET, upper-case hex
             "a/b+c<d\\\"e\\\\f\\u00f6g",                           // Python ensure_ascii
             "a\\/b+c<d\\\"e\\\\f\\u00f6g",                         // ensure_ascii and "\/"
             "a\\u002fb\\u002bc\\u003cd\\u0022e\\u005cf\xc3\xb6g",  // every non-alphanumeric
         }) {
        EXPECT_TRUE(has(forms, expected)) << expected;
    }
    EXPECT_TRUE(json_forms("abcdef").empty());  // nothing to escape: the value is the needle
    // A code point beyond the BMP is a surrogate pair; invalid UTF-8 has no such form.
    EXPECT_TRUE(has(json_forms("x\xf0\x9f\x94\x91y"), "x\\ud83d\\udd11y"));
    EXPECT_TRUE(json_forms("x\xff\xfey").empty());
}

TEST(SecretsEncodedForms, HexAndPercentForms) {
    EXPECT_EQ(hex_forms("\x01\xab"), (std::vector<std::string>{"01ab", "01AB"}));
    EXPECT_EQ(hex_forms("12"), std::vector<std::string>{"3132"});
    const std::vector<std::string> percent = percent_forms("a+/ b");
    for (const std::string expected :
         {"a+/ b", "a%2B%2F%20b", "a%2b%2f%20b", "a%2B/%20b", "a%2B%2F+b"}) {
        EXPECT_TRUE(has(percent, expected)) << expected;
    }
}

TEST(SecretsEncodedForms, ShortDerivedFormsAreLeftOut) {
    for (const std::string& form : redaction_forms("ab")) {
        EXPECT_TRUE(form == "ab" || form.size() >= kMinDerivedLength) << form;
    }
    EXPECT_TRUE(redaction_forms("").empty());
}

// The echoes an upstream really produces, each inside other text; the redacted output must
// hold no 5-byte run of the secret in any decoding, whatever the cut of the stream.
TEST(SecretsEncodedForms, EveryEchoIsStarredAtEverySplit) {
    const std::string secret = test::generated_secret("sk") + "/+x=y<z";
    const std::string user = "agent";
    const std::string pair = user + ":" + secret;
    const FormsRedactor needles{secret, pair};
    std::vector<std::string> echoes;
    for (const std::string& value : {secret, pair}) {
        for (const std::string& f : json_forms(value)) echoes.push_back(f);
        for (const std::string& f : percent_forms(value)) echoes.push_back(f);
        for (const std::string& f : hex_forms(value)) echoes.push_back(f);
    }
    for (const std::string& echo : echoes) {
        const std::string text = "{\"echo\":\"" + echo + "\",\"n\":1}";
        const std::string whole = needles.redactor().redact(text);
        EXPECT_TRUE(whole.starts_with("{\"echo\":\"")) << whole;
        EXPECT_TRUE(whole.ends_with("\",\"n\":1}")) << whole;
        EXPECT_EQ(whole.find_first_not_of('*', 9), 9 + echo.size()) << echo << " -> " << whole;
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            Redactor redactor = needles.redactor();
            std::string out;
            redactor.feed(std::string_view(text).substr(0, cut), out);
            redactor.feed(std::string_view(text).substr(cut), out);
            redactor.finish(out);
            ASSERT_EQ(out, whole) << "cut at " << cut;
        }
    }
}

TEST(SecretsEncodedForms, Base64InsideABlobIsStarredAtEveryOffsetAndSplit) {
    std::mt19937 rng(11);
    const std::string secret = test::generated_secret("sk");
    const std::string pair = "user:" + secret;
    const FormsRedactor needles{secret, pair};
    for (const std::string& value : {secret, pair}) {
        for (std::size_t offset = 0; offset < 6; ++offset) {
            const std::string blob =
                "{\"t\":\"" + random_bytes(rng, offset) + "\",\"k\":\"" + value + "\"}";
            for (const bool url_safe : {false, true}) {
                const std::string encoded = url_safe ? base64url_encode(blob) : base64_encode(blob);
                const std::string text = "data: " + encoded + "\n\n";
                const std::string whole = needles.redactor().redact(text);
                const std::string decoded =
                    decode_starred(whole.substr(6, encoded.size()), url_safe);
                EXPECT_FALSE(leaks(decoded, secret, 3)) << "offset " << offset;
                EXPECT_TRUE(whole.starts_with("data: ")) << whole;
                for (std::size_t cut = 0; cut <= text.size(); ++cut) {
                    Redactor redactor = needles.redactor();
                    std::string out;
                    redactor.feed(std::string_view(text).substr(0, cut), out);
                    redactor.feed(std::string_view(text).substr(cut), out);
                    redactor.finish(out);
                    ASSERT_EQ(out, whole) << "cut at " << cut;
                }
            }
        }
    }
}

TEST(SecretsEncodedForms, ByteByByteFeedHoldsLessThanTheLongestForm) {
    const std::string secret = test::generated_secret("sk");
    const FormsRedactor needles{secret};
    std::size_t longest = 0;
    for (const std::string& f : needles.owned) longest = std::max(longest, f.size());
    const std::string text = "x" + base64_encode("pre" + secret + "post") + "y" + secret;
    Redactor redactor = needles.redactor();
    std::string out;
    for (const char c : text) {
        redactor.feed(std::string_view(&c, 1), out);
        EXPECT_LT(redactor.held(), longest);
    }
    redactor.finish(out);
    EXPECT_EQ(out, needles.redactor().redact(text));
    EXPECT_EQ(out.find(secret), std::string::npos);
}

}  // namespace
}  // namespace cloakroom::secrets
