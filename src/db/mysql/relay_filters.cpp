#include "db/mysql/relay_filters.hpp"

#include <algorithm>

#include "db/mysql/messages.hpp"
#include "db/mysql/protocol.hpp"
#include "runtime/metrics.hpp"

namespace cloakroom::db::mysql {
namespace {

constexpr std::size_t kMaxErrPayload = 64 * 1024;  // larger "errors" are streamed like rows
constexpr std::uint8_t kComQuery = 0x03;

// Both guards read packet headers that may arrive split across chunks: appends what `chunk` has
// from `i` (advancing it) and, once `header` holds a whole one, parses it into `out`.
bool take_header(std::string& header, std::string_view chunk, std::size_t& i, PacketHeader& out) {
    const std::size_t n = std::min(kHeaderSize - header.size(), chunk.size() - i);
    header.append(chunk.substr(i, n));
    i += n;
    if (header.size() < kHeaderSize) return false;
    out = parse_header(header);
    return true;
}

}  // namespace

std::optional<std::string_view> refused_command(std::uint8_t command) {
    if (command == kComChangeUser) return std::string_view("COM_CHANGE_USER");
    return std::nullopt;
}

std::string refusal_query(std::string_view marker) {
    std::string out(1, static_cast<char>(kComQuery));
    out += marker;
    return out;
}

std::string refusal_error(std::string_view command_name) {
    return build_err(kErSpecificAccessDenied, "42000",
                     "Cloakroom: " + std::string(command_name) +
                         " is refused: Cloakroom's login is the only one in a session; connect "
                         "again with a token for the other login");
}

// ---- CommandGuard ----

CommandGuard::CommandGuard(std::shared_ptr<Refusals> refusals) : refusals_(std::move(refusals)) {}

void CommandGuard::packet_done() {
    continuing_ = length_ == kMaxPayload;
    if (!continuing_) route_ = Route::Forward;
    state_ = State::Header;
    header_.clear();
}

bool CommandGuard::feed(std::string_view chunk, std::string& out) {
    std::size_t i = 0;
    while (i < chunk.size()) {
        switch (state_) {
            case State::Header: {
                PacketHeader header;
                if (!take_header(header_, chunk, i, header)) break;
                length_ = header.length;
                left_ = header.length;
                seq_ = header.seq;
                const bool command = seq_ == 0 && !continuing_;
                if (command && length_ > 0) {
                    state_ = State::FirstByte;  // the header waits for the command byte
                    break;
                }
                if (route_ == Route::Forward) out += header_;
                state_ = State::Payload;
                if (left_ == 0) packet_done();
                break;
            }
            case State::FirstByte: {
                const auto command = static_cast<std::uint8_t>(chunk[i]);
                if (const auto name = refused_command(command)) {
                    route_ = Route::Drop;
                    ++refusals_->count;
                    runtime::metrics().add(runtime::Event::DbCommandRefused);
                    if (refusals_->names.size() < 5) refusals_->names.emplace_back(*name);
                    refusals_->pending.push_back(refusal_error(*name));
                    out += frame_packet(0, refusal_query(refusals_->marker));
                } else {
                    route_ = Route::Forward;
                    out += header_;
                    out += chunk[i];
                }
                ++i;
                --left_;
                state_ = State::Payload;
                if (left_ == 0) packet_done();
                break;
            }
            case State::Payload: {
                const std::size_t n = std::min<std::size_t>(left_, chunk.size() - i);
                if (route_ == Route::Forward) out.append(chunk.substr(i, n));
                i += n;
                left_ -= static_cast<std::uint32_t>(n);
                if (left_ == 0) packet_done();
                break;
            }
        }
    }
    return true;
}

// ---- ReplyGuard ----

ReplyGuard::ReplyGuard(std::shared_ptr<Refusals> refusals, std::vector<std::string_view> secrets)
    : refusals_(std::move(refusals)), redactor_(std::move(secrets)) {}

void ReplyGuard::packet_done(std::string& out) {
    if (state_ == State::ErrPayload) {
        std::string payload;
        if (!refusals_->pending.empty() && !refusals_->marker.empty() &&
            err_.find(refusals_->marker) != std::string::npos) {
            payload = std::move(refusals_->pending.front());
            refusals_->pending.pop_front();
        } else {
            payload = redactor_.redact(err_);
        }
        out += frame_packet(seq_, payload);
        err_.clear();
    } else if (length_ != kMaxPayload) {
        redactor_.finish(out);  // a secret never spans two replies
        redactor_.reset();
    }
    continuing_ = length_ == kMaxPayload;
    state_ = State::Header;
    header_.clear();
}

bool ReplyGuard::feed(std::string_view chunk, std::string& out) {
    std::size_t i = 0;
    while (i < chunk.size()) {
        switch (state_) {
            case State::Header: {
                PacketHeader header;
                if (!take_header(header_, chunk, i, header)) break;
                length_ = header.length;
                left_ = header.length;
                seq_ = header.seq;
                if (!continuing_ && length_ > 0 && length_ <= kMaxErrPayload) {
                    state_ = State::FirstByte;
                    break;
                }
                out += header_;
                state_ = State::Payload;
                if (left_ == 0) packet_done(out);
                break;
            }
            case State::FirstByte:
                if (static_cast<std::uint8_t>(chunk[i]) == kErrHeader) {
                    state_ = State::ErrPayload;
                    err_.clear();
                } else {
                    out += header_;
                    state_ = State::Payload;
                }
                break;  // the byte itself is consumed by the payload state
            case State::Payload: {
                const std::size_t n = std::min<std::size_t>(left_, chunk.size() - i);
                redactor_.feed(chunk.substr(i, n), out);
                i += n;
                left_ -= static_cast<std::uint32_t>(n);
                if (left_ == 0) packet_done(out);
                break;
            }
            case State::ErrPayload: {
                const std::size_t n = std::min<std::size_t>(left_, chunk.size() - i);
                err_.append(chunk.substr(i, n));
                i += n;
                left_ -= static_cast<std::uint32_t>(n);
                if (left_ == 0) packet_done(out);
                break;
            }
        }
    }
    return true;
}

}  // namespace cloakroom::db::mysql
