// MySQL/MariaDB client/server protocol basics: capability flags, packet framing (3-byte length,
// 1-byte sequence id) and the integer/string encodings the connection phase uses. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::db::mysql {

// ---- Capability flags (CLIENT_*) ----
inline constexpr std::uint32_t kClientLongPassword = 1u << 0;  // MariaDB calls it CLIENT_MYSQL
inline constexpr std::uint32_t kClientFoundRows = 1u << 1;
inline constexpr std::uint32_t kClientLongFlag = 1u << 2;
inline constexpr std::uint32_t kClientConnectWithDb = 1u << 3;
inline constexpr std::uint32_t kClientCompress = 1u << 5;
inline constexpr std::uint32_t kClientLocalFiles = 1u << 7;
inline constexpr std::uint32_t kClientProtocol41 = 1u << 9;
inline constexpr std::uint32_t kClientInteractive = 1u << 10;
inline constexpr std::uint32_t kClientSsl = 1u << 11;
inline constexpr std::uint32_t kClientTransactions = 1u << 13;
inline constexpr std::uint32_t kClientSecureConnection = 1u << 15;
inline constexpr std::uint32_t kClientMultiStatements = 1u << 16;
inline constexpr std::uint32_t kClientMultiResults = 1u << 17;
inline constexpr std::uint32_t kClientPluginAuth = 1u << 19;
inline constexpr std::uint32_t kClientConnectAttrs = 1u << 20;
inline constexpr std::uint32_t kClientPluginAuthLenencData = 1u << 21;
inline constexpr std::uint32_t kClientSessionTrack = 1u << 23;
inline constexpr std::uint32_t kClientDeprecateEof = 1u << 24;
inline constexpr std::uint32_t kClientZstdCompression = 1u << 26;
inline constexpr std::uint32_t kClientMultiFactorAuth = 1u << 28;

// ---- Framing ----
inline constexpr std::size_t kHeaderSize = 4;
inline constexpr std::uint32_t kMaxPayload = 0xFFFFFF;  // a payload this long continues

struct PacketHeader {
    std::uint32_t length = 0;  // payload bytes that follow
    std::uint8_t seq = 0;
};

// `header` must hold at least kHeaderSize bytes.
PacketHeader parse_header(std::string_view header);

// One or more packets carrying `payload` (split at kMaxPayload, with the empty packet that ends
// an exact multiple), the first with sequence id `seq`.
std::string frame_packet(std::uint8_t seq, std::string_view payload);

struct Packet {
    std::uint8_t seq = 0;
    std::string payload;
};

// The first whole packet at the front of `bytes`: nullopt while incomplete (`consumed` 0).
// Login packets are never continued: a payload of kMaxPayload or more than `max_payload` is an
// error ("mysql.packet").
Result<std::optional<Packet>> take_packet(std::string_view bytes, std::size_t max_payload,
                                          std::size_t& consumed);

// ---- Reading fields ----
// Each getter consumes its field and returns nullopt (consuming nothing) when the data ends
// first or a length-encoded prefix is invalid (0xFB/0xFF).
class Reader {
  public:
    explicit Reader(std::string_view data) : data_(data) {}

    std::optional<std::uint8_t> u8();
    std::optional<std::uint16_t> u16();
    std::optional<std::uint32_t> u24();
    std::optional<std::uint32_t> u32();
    std::optional<std::uint64_t> lenenc_int();
    std::optional<std::string_view> bytes(std::size_t count);
    std::optional<std::string_view> lenenc_string();
    // Up to the next NUL (consumed, not returned).
    std::optional<std::string_view> nul_string();
    // Up to the next NUL, or to the end when there is none.
    std::string_view nul_or_rest_string();
    std::string_view rest();

    std::size_t remaining() const { return data_.size() - pos_; }
    bool empty() const { return remaining() == 0; }

  private:
    std::string_view data_;
    std::size_t pos_ = 0;
};

// ---- Writing fields ----
void put_u8(std::string& out, std::uint8_t value);
void put_u16(std::string& out, std::uint16_t value);
void put_u24(std::string& out, std::uint32_t value);
void put_u32(std::string& out, std::uint32_t value);
void put_lenenc_int(std::string& out, std::uint64_t value);
void put_lenenc_string(std::string& out, std::string_view value);
void put_nul_string(std::string& out, std::string_view value);  // value must hold no NUL

}  // namespace cloakroom::db::mysql
