// PostgreSQL frontend/backend protocol 3.0, the parts the gateway speaks itself: the startup
// packets (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage), the login-phase messages in
// both directions, and ErrorResponse. Pure functions over bytes: no I/O, strict about lengths and
// terminators, so a malformed packet is an error value with a precise message, never a crash.
// Integers on the wire are big-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "util/result.hpp"

namespace cloakroom::db::postgres {

// Error codes in Result errors of this module; the session maps them to SQLSTATEs.
inline constexpr std::string_view kProtocolError = "pg.protocol";        // → 08P01
inline constexpr std::string_view kUnsupportedError = "pg.unsupported";  // → 0A000
inline constexpr std::string_view kAuthSpecError = "pg.authorization";   // → 28000

// SQLSTATE for an error of this module (08P01 unless the code says otherwise).
std::string_view sqlstate_for(const Error& error);

inline constexpr std::uint32_t kProtocol30 = 196608;           // 3.0
inline constexpr std::uint32_t kCancelRequestCode = 80877102;  // 1234.5678
inline constexpr std::uint32_t kSslRequestCode = 80877103;     // 1234.5679
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;  // 1234.5680

// Startup packets: int32 length (including itself), int32 code, payload.
inline constexpr std::size_t kMinStartupLength = 8;
inline constexpr std::size_t kMaxStartupLength = 10000;  // PostgreSQL's MAX_STARTUP_PACKET_LENGTH

struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
    std::uint32_t pid = 0;
    std::uint32_t secret = 0;
};
struct StartupMessage {
    std::uint16_t major = 0;
    std::uint16_t minor = 0;
    std::vector<std::pair<std::string, std::string>> params;  // wire order, no duplicates

    const std::string* find(std::string_view name) const;
};
using StartupPacket = std::variant<SslRequest, GssEncRequest, CancelRequest, StartupMessage>;

// The first 4 bytes of a startup packet → the whole packet's length, within
// [kMinStartupLength, kMaxStartupLength].
Result<std::uint32_t> parse_startup_length(std::string_view four_bytes);
// The packet after its length word (code + payload).
Result<StartupPacket> parse_startup_packet(std::string_view packet);

// What the gateway takes from a client's StartupMessage.
struct ClientStartup {
    std::string user;      // the login name (selects a [[database]] login)
    std::string database;  // defaults to `user`, as PostgreSQL does
    // Every other parameter (application_name, client_encoding, options, DateStyle, ...), passed
    // on to the upstream in order.
    std::vector<std::pair<std::string, std::string>> forward;
    // The client asked for a newer minor version or sent _pq_.* options: the gateway answers with
    // NegotiateProtocolVersion (3.0, these options unrecognized) and speaks 3.0 both ways.
    bool negotiate = false;
    std::vector<std::string> unrecognized_options;
};
// Errors: kUnsupportedError (protocol major version other than 3, replication connections),
// kAuthSpecError (no user).
Result<ClientStartup> interpret_startup(const StartupMessage& message);

// ---- Regular messages: byte type, int32 length (including itself), body ----

inline constexpr std::size_t kMessageHeaderSize = 5;

struct MessageHeader {
    char type = 0;
    std::uint32_t body_size = 0;  // length - 4
};
// `five_bytes` = type + length. Errors when the length is < 4 or the body exceeds `max_body`.
// `what` names the peer in messages ("client", "upstream").
Result<MessageHeader> parse_message_header(std::string_view five_bytes, std::size_t max_body,
                                           std::string_view what);

// A complete message at the start of `buffer`, or nullopt when more bytes are needed.
struct Frame {
    char type = 0;
    std::string_view body;
    std::size_t size = 0;  // header + body
};
Result<std::optional<Frame>> take_frame(std::string_view buffer, std::size_t max_body,
                                        std::string_view what);

// ---- Frontend (client → server) ----

// PasswordMessage ('p') body: one NUL-terminated string, nothing after it.
Result<std::string_view> parse_password_message(std::string_view body);

std::string build_ssl_request();
std::string build_cancel_request(const CancelRequest& request);
std::string build_startup_message(const std::vector<std::pair<std::string, std::string>>& params);
std::string build_password_message(std::string_view password);
std::string build_sasl_initial_response(std::string_view mechanism, std::string_view data);
std::string build_sasl_response(std::string_view data);
std::string build_terminate();

// ---- Backend (server → client) ----

enum AuthCode : std::uint32_t {
    kAuthOk = 0,
    kAuthKerberosV5 = 2,
    kAuthCleartextPassword = 3,
    kAuthMd5Password = 5,
    kAuthScmCredential = 6,
    kAuthGss = 7,
    kAuthGssContinue = 8,
    kAuthSspi = 9,
    kAuthSasl = 10,
    kAuthSaslContinue = 11,
    kAuthSaslFinal = 12,
};

struct AuthRequest {
    std::uint32_t code = 0;
    std::string_view data;  // after the code (salt, mechanism list, SASL data)
};
Result<AuthRequest> parse_authentication(std::string_view body);
// AuthenticationSASL data: NUL-terminated mechanism names, then an empty one.
Result<std::vector<std::string>> parse_sasl_mechanisms(std::string_view data);

// ErrorResponse / NoticeResponse body: (field type, NUL-terminated value)* then a NUL.
struct ErrorFields {
    std::vector<std::pair<char, std::string>> fields;
    std::string_view get(char type) const;  // "" when absent
};
Result<ErrorFields> parse_error_fields(std::string_view body);

Result<CancelRequest> parse_backend_key_data(std::string_view body);

struct NegotiateProtocolVersion {
    std::uint32_t newest_minor = 0;
    std::vector<std::string> unrecognized;
};
Result<NegotiateProtocolVersion> parse_negotiate_protocol_version(std::string_view body);

std::string build_authentication(std::uint32_t code, std::string_view data = {});
// Severity is sent as both S and V (FATAL for everything the gateway reports itself).
std::string build_error_response(std::string_view sqlstate, std::string_view message,
                                 std::string_view severity = "FATAL");
std::string build_negotiate_protocol_version(std::uint32_t newest_minor,
                                             const std::vector<std::string>& unrecognized);

// Printable form of a message type byte for error messages: 'R' or 0x1f.
std::string describe_type(char type);

}  // namespace cloakroom::db::postgres
