// WebSocket over HTTP/1.1 (RFC 6455): recognizing an opening handshake, and reading frame
// headers. Pure; the relay that uses them is proxy/websocket_relay.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/head.hpp"

namespace cloakroom::http {

// Whether `request` opens a WebSocket (RFC 6455 §4.1): GET, `Upgrade: websocket`, `Connection`
// listing "upgrade", a `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`, over HTTP/1.1.
bool is_websocket_upgrade(const Head& request);

// The value the server must answer in Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2).
std::string websocket_accept(std::string_view key);

namespace ws {

enum Opcode : std::uint8_t {
    kContinuation = 0x0,
    kText = 0x1,
    kBinary = 0x2,
    kClose = 0x8,
    kPing = 0x9,
    kPong = 0xA,
};

inline bool is_control(std::uint8_t opcode) {
    return (opcode & 0x8) != 0;
}

struct FrameHeader {
    bool fin = false;
    std::uint8_t rsv = 0;  // RSV1-3 as bits 2..0
    std::uint8_t opcode = 0;
    bool masked = false;
    std::array<std::uint8_t, 4> mask{};
    std::uint64_t payload_length = 0;
    std::size_t size = 0;  // bytes of the header itself
};

enum class HeaderStatus { Incomplete, Complete, Invalid };

// Reads the header at the start of `bytes`. Invalid (with `error`): a reserved opcode, a
// control frame that is fragmented or longer than 125 bytes, a 64-bit length with its top bit
// set, a length not in its shortest form. Extensions are not negotiated by this gateway, so
// RSV bits are the caller's to refuse.
HeaderStatus parse_frame_header(std::string_view bytes, FrameHeader& header, std::string& error);

}  // namespace ws
}  // namespace cloakroom::http
