#include "proxy/websocket_redaction.hpp"

#include <algorithm>

namespace cloakroom::proxy {

namespace ws = http::ws;

std::string websocket_close_frame(std::uint16_t code, std::string_view reason) {
    reason = reason.substr(0, 123);
    std::string frame;
    frame.push_back(static_cast<char>(0x80 | ws::kClose));
    frame.push_back(static_cast<char>(2 + reason.size()));
    frame.push_back(static_cast<char>(code >> 8));
    frame.push_back(static_cast<char>(code & 0xFF));
    frame.append(reason);
    return frame;
}

WebSocketRedaction::WebSocketRedaction(const secrets::CompiledNeedles& needles)
    : needles_(needles), message_(needles.redactor()) {}

runtime::PumpFilter::Verdict WebSocketRedaction::fail(std::string error, std::string& out) {
    failed_ = true;
    error_ = std::move(error);
    // What was held back may hold part of a secret: dropped, never flushed.
    inserts_.clear();
    out.append(websocket_close_frame(1002, "Cloakroom: the server broke the WebSocket framing"));
    return Verdict::Stop;
}

void WebSocketRedaction::flush_inserts(std::string& out) {
    while (!inserts_.empty() && inserts_.front().at <= written_) {
        out.append(inserts_.front().bytes);
        inserts_.pop_front();
    }
}

void WebSocketRedaction::emit(std::string_view payload, std::string& out) {
    while (!payload.empty()) {
        flush_inserts(out);
        std::size_t take = payload.size();
        if (!inserts_.empty()) {
            take = static_cast<std::size_t>(
                std::min<std::uint64_t>(take, inserts_.front().at - written_));
        }
        out.append(payload.substr(0, take));
        written_ += take;
        payload.remove_prefix(take);
    }
    flush_inserts(out);
}

runtime::PumpFilter::Verdict WebSocketRedaction::feed(std::string_view chunk, std::string& out) {
    if (failed_) return Verdict::Stop;
    while (!chunk.empty()) {
        if (!frame_) {
            // Gather the header (at most 14 bytes) without copying payload bytes.
            const std::size_t before = header_bytes_.size();
            header_bytes_.append(chunk.substr(0, 14 - std::min<std::size_t>(before, 14)));
            ws::FrameHeader header;
            std::string error;
            const auto status = ws::parse_frame_header(header_bytes_, header, error);
            if (status == ws::HeaderStatus::Invalid) return fail(error, out);
            if (status == ws::HeaderStatus::Incomplete) {
                chunk = {};
                break;
            }
            chunk.remove_prefix(header.size - before);
            header_bytes_.resize(header.size);
            if (header.masked) return fail("the server masked a frame", out);
            if (header.rsv != 0) return fail("RSV bits set without an extension", out);
            frame_ = header;
            frame_left_ = header.payload_length;
            ++frames_;
            if (ws::is_control(header.opcode)) {
                control_.assign(header_bytes_);
            } else {
                inserts_.push_back(Insert{fed_, header_bytes_});
            }
            header_bytes_.clear();
        }
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), frame_left_));
        const std::string_view payload = chunk.substr(0, take);
        chunk.remove_prefix(take);
        frame_left_ -= take;
        if (ws::is_control(frame_->opcode)) {
            control_.append(payload);
        } else if (!payload.empty()) {
            scratch_.clear();
            message_.feed(payload, scratch_);
            fed_ += payload.size();
            emit(scratch_, out);
        }
        if (frame_left_ > 0) break;  // the frame goes on in a later chunk

        // The frame is complete.
        if (ws::is_control(frame_->opcode)) {
            const std::size_t header_size = control_.size() - frame_->payload_length;
            std::string frame = control_.substr(0, header_size);
            secrets::Redactor once = needles_.redactor();
            once.feed(std::string_view(control_).substr(header_size), frame);
            once.finish(frame);
            inserts_.push_back(Insert{fed_, std::move(frame)});
            if (frame_->opcode == ws::kClose) {
                // Nothing follows a Close: let go of whatever was held back.
                scratch_.clear();
                message_.finish(scratch_);
                emit(scratch_, out);
            }
            flush_inserts(out);
        } else if (frame_->fin) {
            scratch_.clear();
            message_.finish(scratch_);
            emit(scratch_, out);
            message_.reset();
            fed_ = written_ = 0;
        } else {
            flush_inserts(out);
        }
        frame_.reset();
    }
    return Verdict::Continue;
}

}  // namespace cloakroom::proxy
