// The two filters of a relayed MySQL/MariaDB session (pure, no I/O).
//
// Client -> server (CommandGuard). Cloakroom's own login must stay the only one in a session:
// COM_CHANGE_USER (a new login, to any account and database, with the client's own password)
// never reaches the server. To answer it in its place among the server's replies (clients may
// pipeline), the guard sends the server, instead of the refused packet(s), a COM_QUERY that cannot
// parse and carries the session's marker; the server answers it with one ERR packet, which the
// reply guard replaces by Cloakroom's refusal. COM_RESET_CONNECTION keeps the login (it resets
// session state only) and passes.
//
// Every client packet with sequence id 0 that does not continue a maximum-size packet is read as
// a command. A server only takes a command with sequence id 0, so nothing the server would run
// as COM_CHANGE_USER passes; the one false alarm is a LOAD DATA LOCAL INFILE upload of more than
// 255 packets whose packet numbered 0 (after wrapping) starts with byte 0x11, which is refused.
//
// Server -> client (ReplyGuard). Every packet payload passes a same-length redactor (the
// session's secrets become '*', so every length stays valid); the redactor's held-back tail is
// flushed at the end of each packet, so a reply is never delayed. ERR packets (payload starting
// with 0xFF, never a continuation) are read whole first: the one carrying the marker becomes the
// refusal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/redactor.hpp"

namespace cloakroom::db::mysql {

inline constexpr std::uint8_t kComQuit = 0x01;
inline constexpr std::uint8_t kComChangeUser = 0x11;
inline constexpr std::uint8_t kComResetConnection = 0x1F;
inline constexpr std::uint16_t kErSpecificAccessDenied = 1227;  // SQLSTATE 42000

// The name of a command Cloakroom refuses in every session, or nullopt when it passes.
std::optional<std::string_view> refused_command(std::uint8_t command);

// What both guards of one session share: the marker and the refusals not answered yet.
struct Refusals {
    std::string marker;               // unguessable per session: "cloakroom_refused_<hex>"
    std::deque<std::string> pending;  // ERR payloads, in order
    std::uint64_t count = 0;
    std::vector<std::string> names;  // the first few refused command names, for the audit
};

class CommandGuard {
  public:
    explicit CommandGuard(std::shared_ptr<Refusals> refusals);
    // Appends what the server must receive; always true (a refusal keeps the session).
    bool feed(std::string_view chunk, std::string& to_server);

  private:
    enum class State { Header, FirstByte, Payload };
    enum class Route { Forward, Drop };
    void packet_done();

    std::shared_ptr<Refusals> refusals_;
    State state_ = State::Header;
    Route route_ = Route::Forward;
    std::string header_;
    std::uint32_t length_ = 0;
    std::uint32_t left_ = 0;
    std::uint8_t seq_ = 0;
    bool continuing_ = false;  // the previous packet had the maximum size: this one continues it
};

class ReplyGuard {
  public:
    ReplyGuard(std::shared_ptr<Refusals> refusals, std::vector<std::string_view> secrets);
    // Appends what the client must receive; always true.
    bool feed(std::string_view chunk, std::string& to_client);
    // Between packets (nothing held back): a packet of Cloakroom's own may be sent now.
    bool at_boundary() const { return state_ == State::Header && header_.empty(); }
    std::size_t redactions() const { return redactor_.redactions(); }

  private:
    enum class State { Header, FirstByte, Payload, ErrPayload };
    void packet_done(std::string& out);

    std::shared_ptr<Refusals> refusals_;
    secrets::Redactor redactor_;
    State state_ = State::Header;
    std::string header_;
    std::string err_;  // an ERR packet's payload being read
    std::uint32_t length_ = 0;
    std::uint32_t left_ = 0;
    std::uint8_t seq_ = 0;
    bool continuing_ = false;
};

// The COM_QUERY payload sent in a refused command's place (it fails to parse, quoting `marker`).
std::string refusal_query(std::string_view marker);
// Cloakroom's ERR payload for a refused command.
std::string refusal_error(std::string_view command_name);

}  // namespace cloakroom::db::mysql
