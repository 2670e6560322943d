// MySQL packet framing and the integer/string field encodings (src/db/mysql/protocol.hpp).
#include <gtest/gtest.h>

#include <string>

#include "db/mysql/protocol.hpp"

namespace cloakroom::db::mysql {
namespace {

using namespace std::string_literals;

TEST(MysqlFraming, HeaderIsLittleEndianLengthThenSequence) {
    EXPECT_EQ(frame_packet(0, "abc"), "\x03\x00\x00\x00"s + "abc");
    EXPECT_EQ(frame_packet(7, ""), "\x00\x00\x00\x07"s);
    const PacketHeader header = parse_header("\x01\x02\x03\x09"s);
    EXPECT_EQ(header.length, 0x030201u);
    EXPECT_EQ(header.seq, 9);
}

TEST(MysqlFraming, LongPayloadsAreSplitWithIncreasingSequence) {
    const std::string payload(kMaxPayload + 5, 'x');
    const std::string framed = frame_packet(255, payload);
    ASSERT_EQ(framed.size(), payload.size() + 2 * kHeaderSize);
    EXPECT_EQ(parse_header(framed).length, kMaxPayload);
    EXPECT_EQ(parse_header(framed).seq, 255);
    const PacketHeader second = parse_header(std::string_view(framed).substr(4 + kMaxPayload));
    EXPECT_EQ(second.length, 5u);
    EXPECT_EQ(second.seq, 0);  // wraps

    // An exact multiple ends with an empty packet.
    const std::string exact = frame_packet(1, std::string(kMaxPayload, 'y'));
    ASSERT_EQ(exact.size(), kMaxPayload + 2 * kHeaderSize);
    EXPECT_EQ(exact.substr(exact.size() - 4), "\x00\x00\x00\x02"s);
}

TEST(MysqlFraming, TakePacketWaitsForWholePackets) {
    const std::string two = frame_packet(1, "hello") + frame_packet(2, "x");
    std::size_t consumed = 99;
    for (std::size_t cut = 0; cut < 9; ++cut) {
        auto partial = take_packet(std::string_view(two).substr(0, cut), 1024, consumed);
        ASSERT_TRUE(partial.ok());
        EXPECT_FALSE(partial->has_value()) << cut;
        EXPECT_EQ(consumed, 0u);
    }
    auto first = take_packet(two, 1024, consumed);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(first->has_value());
    EXPECT_EQ((*first)->seq, 1);
    EXPECT_EQ((*first)->payload, "hello");
    EXPECT_EQ(consumed, 9u);
    auto second = take_packet(std::string_view(two).substr(consumed), 1024, consumed);
    ASSERT_TRUE(second.ok() && second->has_value());
    EXPECT_EQ((*second)->payload, "x");
    EXPECT_EQ((*second)->seq, 2);
}

TEST(MysqlFraming, TakePacketRefusesOversizedAndContinuedPackets) {
    std::size_t consumed = 0;
    auto big = take_packet("\x00\x10\x00\x00"s, 1024, consumed);  // 4096 > 1024
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.error().code, "mysql.packet");
    auto continued = take_packet("\xff\xff\xff\x00"s, kMaxPayload + 10, consumed);
    EXPECT_FALSE(continued.ok());
}

TEST(MysqlFields, LengthEncodedIntegersRoundTrip) {
    for (std::uint64_t value : {0ull, 1ull, 250ull, 251ull, 0xFFFFull, 0x10000ull, 0xFFFFFFull,
                                0x1000000ull, 0xFFFFFFFFFFFFFFFFull}) {
        std::string out;
        put_lenenc_int(out, value);
        Reader reader(out);
        EXPECT_EQ(reader.lenenc_int(), value);
        EXPECT_TRUE(reader.empty());
    }
    std::string out;
    put_lenenc_int(out, 251);
    EXPECT_EQ(out, "\xfc\xfb\x00"s);
    out.clear();
    put_lenenc_int(out, 0x123456);
    EXPECT_EQ(out, "\xfd\x56\x34\x12"s);
}

TEST(MysqlFields, ReaderRejectsTruncationAndInvalidPrefixes) {
    {
        const std::string data = "\xfb"s;
        Reader reader(data);  // NULL marker is not an integer
        EXPECT_FALSE(reader.lenenc_int());
        EXPECT_EQ(reader.remaining(), 1u);
    }
    {
        const std::string data = "\xff"s;
        Reader reader(data);
        EXPECT_FALSE(reader.lenenc_int());
    }
    {
        const std::string data = "\xfe\x01\x02"s;
        Reader reader(data);  // 8 bytes announced, 2 present
        EXPECT_FALSE(reader.lenenc_int());
        EXPECT_EQ(reader.remaining(), 3u);
    }
    {
        const std::string data = "\x05" + "abc"s;  // longer than the data: nothing consumed
        Reader reader(data);
        EXPECT_FALSE(reader.lenenc_string());
        EXPECT_EQ(reader.remaining(), 4u);
    }
    {
        const std::string data = "no terminator"s;
        Reader reader(data);
        EXPECT_FALSE(reader.nul_string());
        EXPECT_EQ(reader.nul_or_rest_string(), "no terminator");
        EXPECT_TRUE(reader.empty());
    }
    {
        const std::string data = "\x01\x02\x03"s;
        Reader reader(data);
        EXPECT_FALSE(reader.u32());
        EXPECT_EQ(reader.u24(), 0x030201u);
        EXPECT_FALSE(reader.u8());
        EXPECT_FALSE(reader.u16());
        EXPECT_FALSE(reader.bytes(1));
        EXPECT_EQ(reader.bytes(0), std::string_view());
    }
}

TEST(MysqlFields, WritersMatchReaders) {
    std::string out;
    put_u8(out, 0xAB);
    put_u16(out, 0x1234);
    put_u24(out, 0x56789A);
    put_u32(out, 0xDEADBEEF);
    put_lenenc_string(out, "key");
    put_nul_string(out, "name");
    Reader reader(out);
    EXPECT_EQ(reader.u8(), 0xAB);
    EXPECT_EQ(reader.u16(), 0x1234);
    EXPECT_EQ(reader.u24(), 0x56789Au);
    EXPECT_EQ(reader.u32(), 0xDEADBEEFu);
    EXPECT_EQ(reader.lenenc_string(), "key");
    EXPECT_EQ(reader.nul_string(), "name");
    EXPECT_TRUE(reader.empty());
}

}  // namespace
}  // namespace cloakroom::db::mysql
