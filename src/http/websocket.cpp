#include "http/websocket.hpp"

#include <openssl/sha.h>

#include "util/ascii.hpp"
#include "util/base64.hpp"

namespace cloakroom::http {

bool is_websocket_upgrade(const Head& request) {
    if (request.method() != "GET" || request.minor_version() != 1) return false;
    bool upgrade = false;
    bool connection = false;
    for (const auto& field : request.fields()) {
        if (ascii_iequals(field.name, "Upgrade") && list_contains(field.value, "websocket")) {
            upgrade = true;
        } else if (ascii_iequals(field.name, "Connection") &&
                   list_contains(field.value, "upgrade")) {
            connection = true;
        }
    }
    return upgrade && connection && request.find("Sec-WebSocket-Key").has_value() &&
           request["Sec-WebSocket-Version"] == "13";
}

std::string websocket_accept(std::string_view key) {
    static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string text(key);
    text.append(kGuid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

namespace ws {

HeaderStatus parse_frame_header(std::string_view bytes, FrameHeader& header, std::string& error) {
    if (bytes.size() < 2) return HeaderStatus::Incomplete;
    const auto b0 = static_cast<std::uint8_t>(bytes[0]);
    const auto b1 = static_cast<std::uint8_t>(bytes[1]);
    header.fin = (b0 & 0x80) != 0;
    header.rsv = static_cast<std::uint8_t>((b0 >> 4) & 0x7);
    header.opcode = b0 & 0x0F;
    header.masked = (b1 & 0x80) != 0;
    const std::uint8_t length7 = b1 & 0x7F;
    if ((header.opcode >= 0x3 && header.opcode <= 0x7) || header.opcode >= 0xB) {
        error = "reserved opcode " + std::to_string(header.opcode);
        return HeaderStatus::Invalid;
    }
    std::size_t size = 2;
    std::uint64_t length = length7;
    if (length7 == 126) {
        size = 4;
    } else if (length7 == 127) {
        size = 10;
    }
    if (header.masked) size += 4;
    if (bytes.size() < size) return HeaderStatus::Incomplete;
    if (length7 == 126) {
        length = (std::uint64_t{static_cast<std::uint8_t>(bytes[2])} << 8) |
                 static_cast<std::uint8_t>(bytes[3]);
        if (length < 126) {
            error = "frame length not in its shortest form";
            return HeaderStatus::Invalid;
        }
    } else if (length7 == 127) {
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | static_cast<std::uint8_t>(bytes[i]);
        if ((length >> 63) != 0) {
            error = "frame length has its most significant bit set";
            return HeaderStatus::Invalid;
        }
        if (length <= 0xFFFF) {
            error = "frame length not in its shortest form";
            return HeaderStatus::Invalid;
        }
    }
    if (is_control(header.opcode) && (!header.fin || length > 125)) {
        error = "control frame fragmented or longer than 125 bytes";
        return HeaderStatus::Invalid;
    }
    if (header.masked) {
        for (int i = 0; i < 4; ++i) {
            header.mask[i] = static_cast<std::uint8_t>(bytes[size - 4 + i]);
        }
    }
    header.payload_length = length;
    header.size = size;
    return HeaderStatus::Complete;
}

}  // namespace ws
}  // namespace cloakroom::http
