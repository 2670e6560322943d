// The server → agent direction of a WebSocket relay (websocket_relay.hpp): frames parsed as they
// stream, every echoed secret in a text, binary or control frame's payload starred
// (docs/architecture.md, invariant 1), across fragments and across the reads that split them.
// Redaction keeps lengths, so every frame goes out with its own header; a secret's held-back
// prefix at the end of one fragment delays that fragment until the next arrives (or the message
// ends), and a control frame between fragments waits behind it. A server that breaks the framing
// rules this gateway relies on (masked frames, RSV bits without a negotiated extension, bad
// lengths, reserved opcodes) gets the agent a Close 1002 and ends the relay: such bytes cannot be
// checked for secrets. Pure: no I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "http/websocket.hpp"
#include "runtime/pump_filter.hpp"
#include "secrets/redactor.hpp"

namespace cloakroom::proxy {

class WebSocketRedaction final : public runtime::PumpFilter {
  public:
    explicit WebSocketRedaction(const secrets::CompiledNeedles& needles);

    Verdict feed(std::string_view chunk, std::string& out) override;
    std::string stop_reason() const override { return "upstream broke the WebSocket framing"; }

    const std::string& error() const { return error_; }
    std::uint64_t redacted_frames() const { return frames_; }

  private:
    // Bytes to insert into the output once `at` message-payload bytes have been written.
    struct Insert {
        std::uint64_t at;
        std::string bytes;
    };
    Verdict fail(std::string error, std::string& out);
    // Redacted payload bytes, with the queued frame headers and control frames put in place.
    void emit(std::string_view payload, std::string& out);
    void flush_inserts(std::string& out);

    const secrets::CompiledNeedles& needles_;
    secrets::Redactor message_;  // the data message in progress
    std::string header_bytes_;   // a frame header still incomplete
    std::optional<http::ws::FrameHeader> frame_;
    std::uint64_t frame_left_ = 0;  // payload bytes of frame_ still to come
    std::string control_;           // a control frame's payload, gathered whole (<= 125 bytes)
    std::uint64_t fed_ = 0;         // message payload bytes fed to the redactor
    std::uint64_t written_ = 0;     // message payload bytes written out
    std::deque<Insert> inserts_;
    std::string scratch_;
    std::string error_;
    std::uint64_t frames_ = 0;
    bool failed_ = false;
};

// A Close frame from the gateway (unmasked: it goes to the agent as if from the server).
std::string websocket_close_frame(std::uint16_t code, std::string_view reason);

}  // namespace cloakroom::proxy
