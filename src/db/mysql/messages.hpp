// The connection-phase messages: Initial Handshake v10 (server greeting), SSLRequest,
// HandshakeResponse41, AuthSwitchRequest, AuthMoreData, OK and ERR. Parsers take a packet's
// payload and return "mysql.handshake" errors for anything truncated or malformed; builders
// produce payloads for frame_packet. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::db::mysql {

inline constexpr std::string_view kNativePassword = "mysql_native_password";
inline constexpr std::string_view kCachingSha2Password = "caching_sha2_password";
inline constexpr std::string_view kClearPassword = "mysql_clear_password";

// First byte of a server packet during authentication.
inline constexpr std::uint8_t kOkHeader = 0x00;
inline constexpr std::uint8_t kAuthMoreDataHeader = 0x01;
inline constexpr std::uint8_t kAuthSwitchHeader = 0xFE;
inline constexpr std::uint8_t kErrHeader = 0xFF;

struct InitialHandshake {
    std::uint8_t protocol_version = 10;
    std::string server_version;
    std::uint32_t connection_id = 0;
    std::string nonce;  // auth-plugin-data, without the trailing NUL (20 bytes in practice)
    std::uint32_t capabilities = 0;
    std::uint8_t charset = 0;
    std::uint16_t status = 0;
    // The 10 bytes after the auth data length. MariaDB (capabilities without CLIENT_MYSQL) keeps
    // its extended capabilities in the last 4; carried through verbatim.
    std::string reserved = std::string(10, '\0');
    std::string auth_plugin;  // "" when the server has no CLIENT_PLUGIN_AUTH

    // MariaDB extended capabilities (bits 32..63), 0 for MySQL servers.
    std::uint32_t mariadb_capabilities() const;
};

Result<InitialHandshake> parse_initial_handshake(std::string_view payload);
// Needs CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION in capabilities and a nonce of at least 8
// bytes; CLIENT_PLUGIN_AUTH adds the plugin name.
std::string build_initial_handshake(const InitialHandshake& greeting);

// HandshakeResponse41 (the client's login packet). SSLRequest is its first 32 bytes.
struct HandshakeResponse {
    std::uint32_t capabilities = 0;
    std::uint32_t max_packet = 0;
    std::uint8_t charset = 0;
    // 23 filler bytes; MariaDB clients put their extended capabilities in the last 4. Verbatim.
    std::string filler = std::string(23, '\0');
    std::string user;
    std::string auth_response;
    std::optional<std::string> database;     // CLIENT_CONNECT_WITH_DB
    std::optional<std::string> auth_plugin;  // CLIENT_PLUGIN_AUTH
    // CLIENT_CONNECT_ATTRS: the key/value pairs as sent (validated), without the total length.
    std::optional<std::string> connect_attrs;
    std::optional<std::uint8_t> zstd_level;  // CLIENT_ZSTD_COMPRESSION_ALGORITHM
};

inline constexpr std::size_t kSslRequestSize = 32;

// An SSLRequest: exactly 32 bytes with CLIENT_PROTOCOL_41 and CLIENT_SSL.
bool is_ssl_request(std::string_view payload);
// Needs CLIENT_PROTOCOL_41 (HandshakeResponse320 is not supported).
Result<HandshakeResponse> parse_handshake_response(std::string_view payload);
// Encodes every optional field whose capability bit is set (an absent one as empty). The auth
// response is length-encoded with CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, else one length byte
// (at most 255 bytes) with CLIENT_SECURE_CONNECTION, else NUL-terminated.
std::string build_handshake_response(const HandshakeResponse& response);
// The first 32 bytes of build_handshake_response, for the same fields.
std::string build_ssl_request(const HandshakeResponse& response);

struct AuthSwitchRequest {
    std::string plugin;
    std::string data;  // plugin data (the new nonce), without a trailing NUL
};

// payload[0] must be 0xFE; the bare 0xFE (pre-4.1 "old password" switch) is an error.
Result<AuthSwitchRequest> parse_auth_switch(std::string_view payload);
std::string build_auth_switch(std::string_view plugin, std::string_view nonce);
std::string build_auth_more_data(std::string_view data);

struct ErrPacket {
    std::uint16_t code = 0;
    std::string sql_state;  // 5 characters, "" when absent
    std::string message;
};

Result<ErrPacket> parse_err(std::string_view payload);
std::string build_err(std::uint16_t code, std::string_view sql_state, std::string_view message);

// Error codes Cloakroom sends.
inline constexpr std::uint16_t kErAccessDenied = 1045;             // SQLSTATE 28000
inline constexpr std::uint16_t kErNotSupportedAuthMode = 1251;     // SQLSTATE 08004
inline constexpr std::uint16_t kErHandshake = 1043;                // SQLSTATE 08S01 "Bad handshake"
inline constexpr std::uint16_t kErUserLimitReached = 1226;         // SQLSTATE 42000
inline constexpr std::uint16_t kErUnknown = 1105;                  // SQLSTATE HY000
inline constexpr std::uint16_t kErSecureTransportRequired = 3159;  // SQLSTATE HY000

}  // namespace cloakroom::db::mysql
