// to_json_line() writes the audit line by hand for speed; it must stay byte for byte what the
// nlohmann::ordered_json serializer it replaced produced (kept here as the reference), escaping
// and invalid-UTF-8 replacement included, for any bytes a request can put in a record.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/audit.hpp"

namespace cloakroom::proxy {
namespace {

using runtime::AuditRecord;
using runtime::AuditSink;
using runtime::rfc3339_ms;
using runtime::to_json_line;

// The implementation to_json_line() had before (issue 5), verbatim.
std::string reference_json_line(const AuditRecord& record) {
    const nlohmann::ordered_json line = {
        {"time", rfc3339_ms(record.time_ms)},
        {"kind", std::string(record.kind)},
        {"token_id", record.token_id},
        {"service", record.service},
        {"host", record.host},
        {"method", record.method},
        {"path", record.path},
        {"decision", record.decision},
        {"reason", record.reason},
        {"status", record.status},
        {"bytes_in", record.bytes_in},
        {"bytes_out", record.bytes_out},
        {"duration_us", record.duration_us},
        {"client", record.client},
    };
    return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

// Shows the bytes of a failing line (they may not be printable).
std::string hex(const std::string& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f && b != '\\') {
            out.push_back(c);
        } else {
            out += "\\x";
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 15]);
        }
    }
    return out;
}

void expect_same(const AuditRecord& record) {
    const std::string expected = reference_json_line(record);
    const std::string actual = to_json_line(record);
    ASSERT_EQ(actual, expected) << "actual:   " << hex(actual) << "\nexpected: " << hex(expected);
}

class Generator {
  public:
    explicit Generator(std::uint32_t seed) : random_(seed) {}

    std::uint64_t below(std::uint64_t n) { return random_() % n; }

    // Strings from several distributions: plain ASCII, ASCII with escapes and control bytes,
    // valid UTF-8 of every length, UTF-8 edge cases (overlong, surrogates, > U+10FFFF,
    // truncated), and raw random bytes.
    std::string text() {
        const std::size_t length = below(4) == 0 ? below(64) : below(12);
        std::string out;
        const std::uint64_t mode = below(6);
        while (out.size() < length) {
            switch (mode == 5 ? below(5) : mode) {
                case 0:
                    out.push_back(static_cast<char>(0x20 + below(0x5f)));
                    break;
                case 1: {
                    static constexpr char kSpecial[] = "\"\\\b\f\n\r\t\x01\x1f\x7f\x00/ a";
                    out.push_back(kSpecial[below(sizeof kSpecial - 1)]);
                    break;
                }
                case 2:
                    append_code_point(out);
                    break;
                case 3:
                    append_edge_case(out);
                    break;
                default:
                    out.push_back(static_cast<char>(below(256)));
                    break;
            }
        }
        return out;
    }

    std::uint64_t number() {
        switch (below(4)) {
            case 0:
                return below(1000);
            case 1:
                return std::numeric_limits<std::uint64_t>::max() - below(3);
            case 2:
                return random_();
            default:
                return random_() >> below(64);
        }
    }

    std::int64_t time_ms() {
        switch (below(5)) {
            case 0:
                return static_cast<std::int64_t>(random_());  // anywhere, years far out
            case 1:
                return std::numeric_limits<std::int64_t>::min() +
                       static_cast<std::int64_t>(below(5));
            case 2:
                return std::numeric_limits<std::int64_t>::max() -
                       static_cast<std::int64_t>(below(5));
            // years 0000 to 9999 and just outside them
            case 3:
                return static_cast<std::int64_t>(below(330'000'000'000'000ULL)) -
                       62'200'000'000'000LL;
            default:
                return 1'700'000'000'000LL +
                       static_cast<std::int64_t>(below(10'000'000'000'000ULL));
        }
    }

  private:
    void append_code_point(std::string& out) {
        static constexpr std::uint32_t kRanges[][2] = {
            {0x80, 0x7ff}, {0x800, 0xd7ff}, {0xe000, 0xffff}, {0x10000, 0x10ffff}};
        const auto& range = kRanges[below(4)];
        const auto cp = static_cast<std::uint32_t>(range[0] + below(range[1] - range[0] + 1));
        if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        } else {
            out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        }
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }

    void append_edge_case(std::string& out) {
        static const std::vector<std::string> kCases = {"\xc0\x80",
                                                        "\xc1\xbf",
                                                        "\xc2",
                                                        "\xdf",
                                                        "\xe0\x80\x80",
                                                        "\xe0\x9f\xbf",
                                                        "\xe0\xa0",
                                                        "\xed\xa0\x80",
                                                        "\xed\x9f\xbf",
                                                        "\xed\xbf\xbf",
                                                        "\xef\xbf\xbf",
                                                        "\xf0\x8f\xbf\xbf",
                                                        "\xf0\x90\x80\x80",
                                                        "\xf4\x8f\xbf\xbf",
                                                        "\xf4\x90\x80\x80",
                                                        "\xf5\x80\x80\x80",
                                                        "\xf8\x88\x80\x80\x80",
                                                        "\xff",
                                                        "\xfe",
                                                        "\x80",
                                                        "\xbf",
                                                        "\xe2\x82",
                                                        "\xf0\x9f\x98",
                                                        "\xe2\x82\xac",
                                                        "\xf0\x9f\x98\x80"};
        const std::string& piece = kCases[below(kCases.size())];
        // Sometimes only a prefix: truncated sequences in the middle of a string.
        out += below(3) == 0 ? piece.substr(0, 1 + below(piece.size())) : piece;
    }

    std::mt19937_64 random_;
};

TEST(ProxyAuditJson, KnownLine) {
    AuditRecord record;
    record.time_ms = 1767225600007;  // 2026-01-01T00:00:00.007Z
    record.token_id = "ab12";
    record.service = "stripe";
    record.host = "api.stripe.com";
    record.method = "GET";
    record.path = "/v1/caf\xc3\xa9\xff";
    record.decision = "deny";
    record.reason = "method \"POST\"\n\x01";
    record.status = 403;
    record.bytes_in = 1;
    record.bytes_out = 2;
    record.duration_us = 3;
    record.client = "127.0.0.1:5000";
    EXPECT_EQ(
        to_json_line(record),
        "{\"time\":\"2026-01-01T00:00:00.007Z\",\"kind\":\"http\",\"token_id\":\"ab12\","
        "\"service\":\"stripe\","
        "\"host\":\"api.stripe.com\",\"method\":\"GET\",\"path\":\"/v1/caf\xc3\xa9\xef\xbf\xbd\","
        "\"decision\":\"deny\",\"reason\":\"method \\\"POST\\\"\\n\\u0001\",\"status\":403,"
        "\"bytes_in\":1,\"bytes_out\":2,\"duration_us\":3,\"client\":\"127.0.0.1:5000\"}\n");
    expect_same(record);
    expect_same(AuditRecord{});
}

TEST(ProxyAuditJson, EveryByteAndPairMatchesReference) {
    AuditRecord record;
    for (int a = 0; a < 256; ++a) {
        record.path = std::string(1, static_cast<char>(a));
        expect_same(record);
        for (int b = 0; b < 256; ++b) {
            record.reason = {static_cast<char>(a), static_cast<char>(b)};
            record.host = {static_cast<char>(a), static_cast<char>(b), 'x'};
            expect_same(record);
        }
    }
}

TEST(ProxyAuditJson, GeneratedRecordsMatchReference) {
    Generator gen(20261127);
    for (int i = 0; i < 100'000; ++i) {
        AuditRecord record;
        record.time_ms = gen.time_ms();
        record.token_id = gen.text();
        record.service = gen.text();
        record.host = gen.text();
        record.method = gen.text();
        record.path = gen.text();
        record.decision = gen.text();
        record.reason = gen.text();
        record.status = static_cast<unsigned>(gen.number());
        record.bytes_in = gen.number();
        record.bytes_out = gen.number();
        record.duration_us = gen.number();
        record.client = gen.text();
        expect_same(record);
        if (HasFatalFailure()) return;
    }
}

TEST(ProxyAuditJson, TimesMatchRfc3339) {
    // The line formats the time itself (no gmtime_r/snprintf) for years 0000-9999.
    AuditRecord record;
    for (const std::int64_t t :
         {std::int64_t{0}, std::int64_t{-1}, std::int64_t{-1000}, std::int64_t{-1001},
          std::int64_t{951782400000}, std::int64_t{4107542400000}, std::int64_t{253402300799999},
          std::int64_t{253402300800000}, std::int64_t{-62167219200000},
          std::int64_t{-62167219200001}, std::numeric_limits<std::int64_t>::min(),
          std::numeric_limits<std::int64_t>::max()}) {
        record.time_ms = t;
        expect_same(record);
    }
    Generator gen(7);
    for (int i = 0; i < 200'000; ++i) {
        record.time_ms = gen.time_ms();
        expect_same(record);
        if (HasFatalFailure()) return;
    }
}

}  // namespace
}  // namespace cloakroom::proxy
