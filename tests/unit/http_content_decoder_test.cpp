// Content decoding for response redaction (http/content_decoder.hpp): every coding round-trips at
// any cut of the input, stacked codings decode in reverse order, a truncated or corrupt stream is
// Corrupt, and a decompression bomb stops at the expansion cap.
#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>

#include "http/content_decoder.hpp"

namespace cloakroom::http {
namespace {

using Status = BodyDecoder::Status;

std::string zlib_compress(std::string_view in, int window) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, in.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::string brotli_compress(std::string_view in) {
    std::string out(BrotliEncoderMaxCompressedSize(in.size()) + 16, '\0');
    std::size_t size = out.size();
    EXPECT_TRUE(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, in.size(),
                                      reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                                      reinterpret_cast<std::uint8_t*>(out.data())));
    out.resize(size);
    return out;
}

std::string zstd_compress(std::string_view in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    const std::size_t size = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    EXPECT_FALSE(ZSTD_isError(size));
    out.resize(size);
    return out;
}

std::string encode(ContentCoding coding, std::string_view in) {
    switch (coding) {
        case ContentCoding::Gzip:
            return zlib_compress(in, 15 + 16);
        case ContentCoding::Deflate:
            return zlib_compress(in, 15);
        case ContentCoding::Brotli:
            return brotli_compress(in);
        case ContentCoding::Zstd:
            return zstd_compress(in);
        case ContentCoding::Identity:
            break;
    }
    return std::string(in);
}

std::string sample(std::size_t n) {
    std::mt19937 rng(3);
    std::string text;
    while (text.size() < n) {
        text += "{\"id\":" + std::to_string(rng() % 100000) + ",\"auth\":\"Bearer sk_live\"},";
    }
    text.resize(n);
    return text;
}

// Decodes `encoded` fed in two pieces cut at `cut`.
std::pair<Status, std::string> decode_cut(const std::vector<ContentCoding>& codings,
                                          std::string_view encoded, std::size_t cut) {
    BodyDecoder decoder(codings);
    std::string out;
    Status status = decoder.feed(encoded.substr(0, cut), out);
    if (status == Status::Ok) status = decoder.feed(encoded.substr(cut), out);
    if (status == Status::Ok) status = decoder.finish(out);
    return {status, out};
}

TEST(HttpContentDecoder, EveryCodingAtEveryCut) {
    const std::string plain = sample(3000);
    for (const ContentCoding coding : {ContentCoding::Gzip, ContentCoding::Deflate,
                                       ContentCoding::Brotli, ContentCoding::Zstd}) {
        const std::string encoded = encode(coding, plain);
        for (std::size_t cut = 0; cut <= encoded.size(); ++cut) {
            const auto [status, out] = decode_cut({coding}, encoded, cut);
            ASSERT_EQ(status, Status::Ok) << static_cast<int>(coding) << " cut " << cut;
            ASSERT_EQ(out, plain) << static_cast<int>(coding) << " cut " << cut;
        }
    }
}

TEST(HttpContentDecoder, RawDeflateAndGzipMembers) {
    const std::string plain = sample(500);
    EXPECT_EQ(decode_cut({ContentCoding::Deflate}, zlib_compress(plain, -15), 1).second, plain);
    // Two gzip members back to back are one body (RFC 1952).
    const std::string two =
        encode(ContentCoding::Gzip, "first ") + encode(ContentCoding::Gzip, "second");
    const auto [status, out] = decode_cut({ContentCoding::Gzip}, two, 7);
    EXPECT_EQ(status, Status::Ok);
    EXPECT_EQ(out, "first second");
}

TEST(HttpContentDecoder, StackedCodingsDecodeInReverse) {
    const std::string plain = sample(2000);
    // "Content-Encoding: gzip, br": gzip applied first, then br.
    const std::string encoded = encode(ContentCoding::Brotli, encode(ContentCoding::Gzip, plain));
    const auto [status, out] =
        decode_cut({ContentCoding::Gzip, ContentCoding::Brotli}, encoded, encoded.size() / 2);
    EXPECT_EQ(status, Status::Ok);
    EXPECT_EQ(out, plain);
}

TEST(HttpContentDecoder, TruncatedOrCorruptIsCorrupt) {
    const std::string plain = sample(2000);
    for (const ContentCoding coding : {ContentCoding::Gzip, ContentCoding::Deflate,
                                       ContentCoding::Brotli, ContentCoding::Zstd}) {
        const std::string encoded = encode(coding, plain);
        const std::string truncated = encoded.substr(0, encoded.size() - 4);
        EXPECT_EQ(decode_cut({coding}, truncated, 3).first, Status::Corrupt)
            << static_cast<int>(coding);
        std::string garbage = encoded;
        garbage += "trailing junk after the end";
        EXPECT_EQ(decode_cut({coding}, garbage, 3).first, Status::Corrupt)
            << static_cast<int>(coding);
        EXPECT_EQ(decode_cut({coding}, "not compressed at all, just text", 5).first,
                  Status::Corrupt)
            << static_cast<int>(coding);
    }
    // An empty body has nothing to decode.
    EXPECT_EQ(decode_cut({ContentCoding::Gzip}, "", 0).first, Status::Ok);
}

TEST(HttpContentDecoder, BombStopsAtTheCap) {
    const std::string zeros(64u << 20, '\0');  // 64 MiB: far past kMaxExpansionRatio
    for (const ContentCoding coding : {ContentCoding::Gzip, ContentCoding::Deflate,
                                       ContentCoding::Brotli, ContentCoding::Zstd}) {
        const std::string encoded = encode(coding, zeros);
        ASSERT_LT(encoded.size() * kMaxExpansionRatio, zeros.size());
        BodyDecoder decoder({coding});
        std::string out;
        Status status = Status::Ok;
        std::size_t fed = 0;
        while (status == Status::Ok && fed < encoded.size()) {
            const std::size_t n = std::min<std::size_t>(4096, encoded.size() - fed);
            out.clear();
            status = decoder.feed(std::string_view(encoded).substr(fed, n), out);
            fed += n;
            // Memory stays bounded: no single feed produces more than the cap allows.
            ASSERT_LE(out.size(), kExpansionFloor + kMaxExpansionRatio * fed + kDecodeStep);
        }
        EXPECT_EQ(status, Status::Bomb) << static_cast<int>(coding);
        EXPECT_LE(decoder.bytes_out(), kExpansionFloor + kMaxExpansionRatio * fed + kDecodeStep);
    }
    // Below the floor anything goes: 1 MiB of zeros is a few hundred bytes of gzip.
    const std::string small(1u << 20, '\0');
    EXPECT_EQ(decode_cut({ContentCoding::Gzip}, encode(ContentCoding::Gzip, small), 10).first,
              Status::Ok);
}

TEST(HttpContentDecoder, ParseContentEncoding) {
    EXPECT_EQ(parse_content_encoding("gzip"), std::vector<ContentCoding>{ContentCoding::Gzip});
    EXPECT_EQ(parse_content_encoding(" X-GZIP , br"),
              (std::vector<ContentCoding>{ContentCoding::Gzip, ContentCoding::Brotli}));
    EXPECT_EQ(parse_content_encoding("identity"), std::vector<ContentCoding>{});
    EXPECT_EQ(parse_content_encoding("zstd,deflate"),
              (std::vector<ContentCoding>{ContentCoding::Zstd, ContentCoding::Deflate}));
    EXPECT_FALSE(parse_content_encoding("compress").has_value());
    EXPECT_FALSE(parse_content_encoding("gzip, exi").has_value());
}

TEST(HttpContentDecoder, AcceptEncodingIsNarrowedToWhatIsDecoded) {
    EXPECT_EQ(decodable_accept_encoding(std::nullopt, false), "identity");
    EXPECT_EQ(decodable_accept_encoding("gzip, deflate, br, zstd", false),
              "gzip, deflate, br, zstd");
    EXPECT_EQ(decodable_accept_encoding("gzip;q=0.5, compress, exi, br", false), "gzip;q=0.5, br");
    EXPECT_EQ(decodable_accept_encoding("compress, *", false), "identity");
    EXPECT_EQ(decodable_accept_encoding("gzip", true), "identity");  // a range request
}

}  // namespace
}  // namespace cloakroom::http
