#include "db/mysql/protocol.hpp"

#include <algorithm>
#include <string>

namespace cloakroom::db::mysql {

namespace {

std::uint8_t byte_at(std::string_view data, std::size_t index) {
    return static_cast<std::uint8_t>(data[index]);
}

}  // namespace

PacketHeader parse_header(std::string_view header) {
    PacketHeader out;
    out.length = static_cast<std::uint32_t>(byte_at(header, 0)) |
                 (static_cast<std::uint32_t>(byte_at(header, 1)) << 8) |
                 (static_cast<std::uint32_t>(byte_at(header, 2)) << 16);
    out.seq = byte_at(header, 3);
    return out;
}

std::string frame_packet(std::uint8_t seq, std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + kHeaderSize);
    while (true) {
        const std::size_t chunk = std::min<std::size_t>(payload.size(), kMaxPayload);
        put_u24(out, static_cast<std::uint32_t>(chunk));
        put_u8(out, seq);
        out.append(payload.substr(0, chunk));
        payload.remove_prefix(chunk);
        ++seq;
        if (chunk < kMaxPayload) break;  // a full chunk is followed by another (maybe empty)
    }
    return out;
}

Result<std::optional<Packet>> take_packet(std::string_view bytes, std::size_t max_payload,
                                          std::size_t& consumed) {
    consumed = 0;
    if (bytes.size() < kHeaderSize) return std::optional<Packet>{};
    const PacketHeader header = parse_header(bytes);
    if (header.length >= kMaxPayload || header.length > max_payload) {
        return make_error("mysql.packet", "packet of " + std::to_string(header.length) +
                                              " bytes is larger than the login phase allows (" +
                                              std::to_string(max_payload) + ")");
    }
    if (bytes.size() - kHeaderSize < header.length) return std::optional<Packet>{};
    consumed = kHeaderSize + header.length;
    return std::optional<Packet>{
        Packet{header.seq, std::string(bytes.substr(kHeaderSize, header.length))}};
}

std::optional<std::uint8_t> Reader::u8() {
    if (remaining() < 1) return std::nullopt;
    return byte_at(data_, pos_++);
}

std::optional<std::uint16_t> Reader::u16() {
    if (remaining() < 2) return std::nullopt;
    const auto value =
        static_cast<std::uint16_t>(byte_at(data_, pos_) | (byte_at(data_, pos_ + 1) << 8));
    pos_ += 2;
    return value;
}

std::optional<std::uint32_t> Reader::u24() {
    if (remaining() < 3) return std::nullopt;
    const std::uint32_t value = static_cast<std::uint32_t>(byte_at(data_, pos_)) |
                                (static_cast<std::uint32_t>(byte_at(data_, pos_ + 1)) << 8) |
                                (static_cast<std::uint32_t>(byte_at(data_, pos_ + 2)) << 16);
    pos_ += 3;
    return value;
}

std::optional<std::uint32_t> Reader::u32() {
    if (remaining() < 4) return std::nullopt;
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        value |= static_cast<std::uint32_t>(byte_at(data_, pos_ + i)) << (8 * i);
    }
    pos_ += 4;
    return value;
}

std::optional<std::uint64_t> Reader::lenenc_int() {
    if (remaining() < 1) return std::nullopt;
    const std::uint8_t first = byte_at(data_, pos_);
    std::size_t width = 0;
    if (first < 0xFB) {
        ++pos_;
        return first;
    }
    if (first == 0xFC) {
        width = 2;
    } else if (first == 0xFD) {
        width = 3;
    } else if (first == 0xFE) {
        width = 8;
    } else {
        return std::nullopt;  // 0xFB (NULL) and 0xFF (error) are not integers
    }
    if (remaining() < 1 + width) return std::nullopt;
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) {
        value |= static_cast<std::uint64_t>(byte_at(data_, pos_ + 1 + i)) << (8 * i);
    }
    pos_ += 1 + width;
    return value;
}

std::optional<std::string_view> Reader::bytes(std::size_t count) {
    if (remaining() < count) return std::nullopt;
    const std::string_view out = data_.substr(pos_, count);
    pos_ += count;
    return out;
}

std::optional<std::string_view> Reader::lenenc_string() {
    const std::size_t saved = pos_;
    const auto length = lenenc_int();
    if (!length) return std::nullopt;
    if (*length > remaining()) {
        pos_ = saved;
        return std::nullopt;
    }
    return bytes(static_cast<std::size_t>(*length));
}

std::optional<std::string_view> Reader::nul_string() {
    const std::size_t end = data_.find('\0', pos_);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
}

std::string_view Reader::nul_or_rest_string() {
    if (auto value = nul_string()) return *value;
    return rest();
}

std::string_view Reader::rest() {
    const std::string_view out = data_.substr(pos_);
    pos_ = data_.size();
    return out;
}

void put_u8(std::string& out, std::uint8_t value) {
    out.push_back(static_cast<char>(value));
}

void put_u16(std::string& out, std::uint16_t value) {
    put_u8(out, static_cast<std::uint8_t>(value & 0xFF));
    put_u8(out, static_cast<std::uint8_t>(value >> 8));
}

void put_u24(std::string& out, std::uint32_t value) {
    for (int i = 0; i < 3; ++i) put_u8(out, static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF));
}

void put_u32(std::string& out, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) put_u8(out, static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF));
}

void put_lenenc_int(std::string& out, std::uint64_t value) {
    int width = 0;
    if (value < 0xFB) {
        put_u8(out, static_cast<std::uint8_t>(value));
        return;
    }
    if (value <= 0xFFFF) {
        put_u8(out, 0xFC);
        width = 2;
    } else if (value <= 0xFFFFFF) {
        put_u8(out, 0xFD);
        width = 3;
    } else {
        put_u8(out, 0xFE);
        width = 8;
    }
    for (int i = 0; i < width; ++i)
        put_u8(out, static_cast<std::uint8_t>((value >> (8 * i)) & 0xFF));
}

void put_lenenc_string(std::string& out, std::string_view value) {
    put_lenenc_int(out, value.size());
    out.append(value);
}

void put_nul_string(std::string& out, std::string_view value) {
    out.append(value);
    out.push_back('\0');
}

}  // namespace cloakroom::db::mysql
