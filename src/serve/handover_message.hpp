// The hand-over protocol's messages (docs/transparent.md, "Hand-over socket"): one JSON object
// per SOCK_SEQPACKET message from `cloakroom run`, with the listening sockets attached in the
// order of "listeners", and one JSON reply. Pure: no sockets here, so every malformed message
// has a unit test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::serve {

enum class ListenerKind : std::uint8_t {
    Forward,      // TCP: the forward proxy (CONNECT and absolute-form)
    Transparent,  // TCP: redirected connections (proxy/transparent_connection.hpp)
    Dns,          // UDP: the DNS responder
    DnsTcp,       // TCP: the DNS responder over TCP
    Database,     // TCP: a [[database]] gateway, "database:NAME" on the wire
    Cdp,          // TCP: the DevTools proxy (bridge/cdp_proxy.hpp)
    // AF_UNIX SOCK_SEQPACKET: the sandbox's callback connector (bridge/sandbox_connector.hpp),
    // not a listener: the gateway asks it for connections into the sandbox. One per session.
    Connector,
};

std::string_view kind_name(ListenerKind kind);

// One socket of an adopt request.
struct HandoverListener {
    ListenerKind kind = ListenerKind::Forward;
    std::string database;  // Database: the [[database]] name (1..253 of [A-Za-z0-9._-])

    std::string name() const;  // "forward", "database:app"
};

// At most this many sockets in one message (and the control buffer is sized for it).
inline constexpr std::size_t kMaxHandoverFds = 16;
// A message longer than this is refused ("message too long").
inline constexpr std::size_t kMaxHandoverMessage = 4096;

struct HandoverRequest {
    enum class Op : std::uint8_t { Adopt, Status } op = Op::Status;
    std::string session;   // adopt: 1..64 printable ASCII characters
    std::string token_id;  // adopt: lower-case hex, may be empty
    std::vector<HandoverListener> listeners;
};

// Parses one request carrying `fd_count` sockets. Errors (code "handover.request") name what is
// wrong: "bad JSON", "unknown op \"x\" (expected \"adopt\" or \"status\")", "\"listeners\"
// names 3 sockets but 2 came with the message", "unknown listener kind \"x\"", "listener kind
// \"database:\" names no database", ... Whether a named database exists is the gateway's
// business (handover.cpp), not the message's.
Result<HandoverRequest> parse_handover_request(std::string_view text, std::size_t fd_count);

struct HandoverSession {
    std::string session;
    std::string token_id;
    std::size_t listeners = 0;
};

std::string handover_ok();
std::string handover_error(std::string_view message);
std::string handover_status(const std::vector<HandoverSession>& sessions);

}  // namespace cloakroom::serve
