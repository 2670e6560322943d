// Reads the server name out of the first bytes of a TLS connection without consuming them (the
// transparent front end replays them into the real handshake). OpenSSL parses the ClientHello
// itself (a throwaway SSL on a memory BIO, stopped in its client-hello callback), so record
// reassembly across TCP segments and several records, and every extension layout, are
// OpenSSL's, not a parser of ours.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace cloakroom::proxy {

struct ClientHelloPeek {
    enum class Status : std::uint8_t {
        NeedMore,  // a valid beginning: read more bytes and ask again
        Complete,  // a whole ClientHello: `server_name` is its SNI host name, if it sent one
        Invalid,   // not a TLS ClientHello, or a malformed server_name extension: `problem`
    } status = Status::NeedMore;
    std::optional<std::string> server_name;  // as sent (the caller validates and normalizes)
    std::string problem;
};

// `bytes`: everything read from the connection so far.
ClientHelloPeek peek_client_hello(std::span<const std::uint8_t> bytes);

// The host name in a server_name extension's body (RFC 6066, section 3): nullopt with
// `problem` set when it is malformed, an empty optional inside when it names no host_name.
struct ServerNameExtension {
    bool ok = false;
    std::optional<std::string> host_name;
    std::string problem;
};
ServerNameExtension parse_server_name_extension(std::span<const std::uint8_t> body);

}  // namespace cloakroom::proxy
