#include "db/postgres/pg_protocol.hpp"

#include <algorithm>
#include <limits>

namespace cloakroom::db::postgres {

namespace {

Error protocol_error(std::string message) {
    return make_error(std::string(kProtocolError), std::move(message));
}

std::uint32_t load_u32(std::string_view bytes) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        value = (value << 8) | static_cast<unsigned char>(bytes[i]);
    }
    return value;
}

void put_u32(std::string& out, std::uint32_t value) {
    out.push_back(static_cast<char>((value >> 24) & 0xff));
    out.push_back(static_cast<char>((value >> 16) & 0xff));
    out.push_back(static_cast<char>((value >> 8) & 0xff));
    out.push_back(static_cast<char>(value & 0xff));
}

void put_cstring(std::string& out, std::string_view text) {
    out.append(text);
    out.push_back('\0');
}

// Writes the length word of the message that starts at `start` (its type byte, if any, is
// before `start`).
void finish_length(std::string& out, std::size_t start) {
    const auto length = static_cast<std::uint32_t>(out.size() - start);
    for (std::size_t i = 0; i < 4; ++i) {
        out[start + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
    }
}

std::string typed_message(char type, std::string_view body) {
    std::string out;
    out.reserve(body.size() + kMessageHeaderSize);
    out.push_back(type);
    put_u32(out, static_cast<std::uint32_t>(body.size() + 4));
    out.append(body);
    return out;
}

// Sequential reader over a message body.
class Reader {
  public:
    Reader(std::string_view bytes, std::string_view what) : bytes_(bytes), what_(what) {}

    bool at_end() const { return pos_ == bytes_.size(); }
    std::size_t remaining() const { return bytes_.size() - pos_; }

    Result<std::uint32_t> u32() {
        if (remaining() < 4) return protocol_error(std::string(what_) + " is truncated");
        const auto value = load_u32(bytes_.substr(pos_, 4));
        pos_ += 4;
        return value;
    }

    Result<std::string_view> cstring() {
        const auto end = bytes_.find('\0', pos_);
        if (end == std::string_view::npos) {
            return protocol_error(std::string(what_) + ": string is not NUL-terminated");
        }
        const auto text = bytes_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return text;
    }

    char byte() { return bytes_[pos_++]; }
    std::string_view rest() {
        const auto text = bytes_.substr(pos_);
        pos_ = bytes_.size();
        return text;
    }

  private:
    std::string_view bytes_;
    std::string_view what_;
    std::size_t pos_ = 0;
};

bool printable(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u != 0x7f;
    });
}

// For error messages: a name from the peer, quoted and shortened, control bytes escaped.
std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
        const auto u = static_cast<unsigned char>(text[i]);
        if (u < 0x20 || u == 0x7f || u == '"' || u == '\\') {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0xf]);
        } else {
            out.push_back(static_cast<char>(u));
        }
    }
    if (text.size() > 64) out += "...";
    out += "\"";
    return out;
}

bool is_false_value(std::string_view value) {
    // PostgreSQL's parse_bool prefixes: false, off, no, 0.
    static constexpr std::string_view kFalse[] = {"false", "f", "off", "no", "n", "0"};
    std::string lower;
    for (char c : value) lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    return std::find(std::begin(kFalse), std::end(kFalse), lower) != std::end(kFalse);
}

}  // namespace

std::string_view sqlstate_for(const Error& error) {
    if (error.code == kUnsupportedError) return "0A000";
    if (error.code == kAuthSpecError) return "28000";
    return "08P01";
}

const std::string* StartupMessage::find(std::string_view name) const {
    for (const auto& [key, value] : params) {
        if (key == name) return &value;
    }
    return nullptr;
}

Result<std::uint32_t> parse_startup_length(std::string_view four_bytes) {
    if (four_bytes.size() != 4) return protocol_error("startup packet length is truncated");
    const auto length = load_u32(four_bytes);
    if (length < kMinStartupLength || length > kMaxStartupLength) {
        return protocol_error("invalid length of startup packet: " + std::to_string(length) +
                              " (must be " + std::to_string(kMinStartupLength) + " to " +
                              std::to_string(kMaxStartupLength) + " bytes)");
    }
    return length;
}

Result<StartupPacket> parse_startup_packet(std::string_view packet) {
    if (packet.size() < 4 || packet.size() + 4 > kMaxStartupLength) {
        return protocol_error("invalid length of startup packet");
    }
    Reader reader(packet, "startup packet");
    const std::uint32_t code = *reader.u32();
    if (code == kSslRequestCode || code == kGssEncRequestCode) {
        if (!reader.at_end()) {
            return protocol_error(
                std::string(code == kSslRequestCode ? "SSLRequest" : "GSSENCRequest") + " has " +
                std::to_string(reader.remaining()) + " unexpected trailing bytes");
        }
        if (code == kSslRequestCode) return StartupPacket{SslRequest{}};
        return StartupPacket{GssEncRequest{}};
    }
    if (code == kCancelRequestCode) {
        if (reader.remaining() != 8) {
            return protocol_error(
                "CancelRequest must carry exactly 8 bytes (process id and "
                "secret key), got " +
                std::to_string(reader.remaining()));
        }
        CancelRequest cancel;
        cancel.pid = *reader.u32();
        cancel.secret = *reader.u32();
        return StartupPacket{cancel};
    }
    StartupMessage message;
    message.major = static_cast<std::uint16_t>(code >> 16);
    message.minor = static_cast<std::uint16_t>(code & 0xffff);
    if (message.major == 1234) {
        return make_error(std::string(kUnsupportedError),
                          "unsupported startup request code 1234." + std::to_string(message.minor));
    }
    if (message.major != 3) {
        // PostgreSQL only looks at the parameters of a 3.x startup message.
        return StartupPacket{message};
    }
    for (;;) {
        if (reader.at_end()) {
            return protocol_error("startup packet's parameter list is not terminated");
        }
        auto key = reader.cstring();
        if (!key) return key.error();
        if (key->empty()) break;
        auto value = reader.cstring();
        if (!value) {
            return protocol_error("startup parameter " + quoted(*key) + " has no value");
        }
        if (message.find(*key) != nullptr) {
            return protocol_error("duplicate startup parameter " + quoted(*key));
        }
        message.params.emplace_back(std::string(*key), std::string(*value));
    }
    if (!reader.at_end()) {
        return protocol_error("startup packet has " + std::to_string(reader.remaining()) +
                              " bytes after the terminator of its parameter list");
    }
    return StartupPacket{std::move(message)};
}

Result<ClientStartup> interpret_startup(const StartupMessage& message) {
    if (message.major != 3) {
        return make_error(std::string(kUnsupportedError),
                          "unsupported frontend protocol " + std::to_string(message.major) + "." +
                              std::to_string(message.minor) + ": Cloakroom supports 3.0");
    }
    ClientStartup startup;
    startup.negotiate = message.minor != 0;
    for (const auto& [key, value] : message.params) {
        if (key == "user") {
            startup.user = value;
        } else if (key == "database") {
            startup.database = value;
        } else if (key.starts_with("_pq_.")) {
            startup.negotiate = true;
            startup.unrecognized_options.push_back(key);
        } else if (key == "replication") {
            if (!is_false_value(value)) {
                return make_error(std::string(kUnsupportedError),
                                  "replication connections are not supported through Cloakroom");
            }
        } else {
            if (!printable(key)) {
                return protocol_error("startup parameter name " + quoted(key) +
                                      " contains control characters");
            }
            startup.forward.emplace_back(key, value);
        }
    }
    if (startup.user.empty()) {
        return make_error(std::string(kAuthSpecError),
                          "no PostgreSQL user name specified in startup packet");
    }
    if (startup.database.empty()) startup.database = startup.user;
    return startup;
}

Result<MessageHeader> parse_message_header(std::string_view five_bytes, std::size_t max_body,
                                           std::string_view what) {
    if (five_bytes.size() != kMessageHeaderSize) {
        return protocol_error(std::string(what) + " message header is truncated");
    }
    MessageHeader header;
    header.type = five_bytes[0];
    const auto length = load_u32(five_bytes.substr(1));
    if (length < 4) {
        return protocol_error(std::string(what) + " sent message " + describe_type(header.type) +
                              " with invalid length " + std::to_string(length));
    }
    header.body_size = length - 4;
    if (header.body_size > max_body) {
        return protocol_error(std::string(what) + " sent message " + describe_type(header.type) +
                              " of " + std::to_string(header.body_size) +
                              " bytes, more than the limit of " + std::to_string(max_body));
    }
    return header;
}

Result<std::optional<Frame>> take_frame(std::string_view buffer, std::size_t max_body,
                                        std::string_view what) {
    if (buffer.size() < kMessageHeaderSize) return std::optional<Frame>{};
    auto header = parse_message_header(buffer.substr(0, kMessageHeaderSize), max_body, what);
    if (!header) return header.error();
    const std::size_t size = kMessageHeaderSize + header->body_size;
    if (buffer.size() < size) return std::optional<Frame>{};
    return std::optional<Frame>{
        Frame{header->type, buffer.substr(kMessageHeaderSize, header->body_size), size}};
}

Result<std::string_view> parse_password_message(std::string_view body) {
    if (body.empty() || body.back() != '\0') {
        return protocol_error("password message is not NUL-terminated");
    }
    const auto text = body.substr(0, body.size() - 1);
    if (text.find('\0') != std::string_view::npos) {
        return protocol_error("password message has bytes after its NUL terminator");
    }
    return text;
}

std::string build_ssl_request() {
    std::string out;
    put_u32(out, 8);
    put_u32(out, kSslRequestCode);
    return out;
}

std::string build_cancel_request(const CancelRequest& request) {
    std::string out;
    put_u32(out, 16);
    put_u32(out, kCancelRequestCode);
    put_u32(out, request.pid);
    put_u32(out, request.secret);
    return out;
}

std::string build_startup_message(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string out(4, '\0');
    put_u32(out, kProtocol30);
    for (const auto& [key, value] : params) {
        put_cstring(out, key);
        put_cstring(out, value);
    }
    out.push_back('\0');
    finish_length(out, 0);
    return out;
}

std::string build_password_message(std::string_view password) {
    // Built in one heap buffer (never the short-string buffer, whose bytes a move would leave
    // behind), so the caller can wipe the only copy after sending it.
    std::string out;
    out.reserve(std::max<std::size_t>(64, password.size() + kMessageHeaderSize + 1));
    out.push_back('p');
    put_u32(out, static_cast<std::uint32_t>(password.size() + 5));
    out.append(password);
    out.push_back('\0');
    return out;
}

std::string build_sasl_initial_response(std::string_view mechanism, std::string_view data) {
    std::string body;
    put_cstring(body, mechanism);
    put_u32(body, static_cast<std::uint32_t>(data.size()));
    body.append(data);
    return typed_message('p', body);
}

std::string build_sasl_response(std::string_view data) {
    return typed_message('p', data);
}

std::string build_terminate() {
    return typed_message('X', {});
}

Result<AuthRequest> parse_authentication(std::string_view body) {
    if (body.size() < 4) return protocol_error("authentication request is truncated");
    AuthRequest request;
    request.code = load_u32(body);
    request.data = body.substr(4);
    switch (request.code) {
        case kAuthOk:
        case kAuthCleartextPassword:
        case kAuthKerberosV5:
        case kAuthScmCredential:
        case kAuthGss:
        case kAuthSspi:
            if (!request.data.empty()) {
                return protocol_error("authentication request " + std::to_string(request.code) +
                                      " has unexpected trailing bytes");
            }
            break;
        case kAuthMd5Password:
            if (request.data.size() != 4) {
                return protocol_error("MD5 authentication request must carry a 4-byte salt");
            }
            break;
        default:
            break;
    }
    return request;
}

Result<std::vector<std::string>> parse_sasl_mechanisms(std::string_view data) {
    Reader reader(data, "SASL mechanism list");
    std::vector<std::string> mechanisms;
    for (;;) {
        if (reader.at_end()) return protocol_error("SASL mechanism list is not terminated");
        auto name = reader.cstring();
        if (!name) return name.error();
        if (name->empty()) break;
        mechanisms.emplace_back(*name);
    }
    if (!reader.at_end()) return protocol_error("SASL mechanism list has trailing bytes");
    if (mechanisms.empty()) return protocol_error("SASL mechanism list is empty");
    return mechanisms;
}

std::string_view ErrorFields::get(char type) const {
    for (const auto& [key, value] : fields) {
        if (key == type) return value;
    }
    return {};
}

Result<ErrorFields> parse_error_fields(std::string_view body) {
    Reader reader(body, "error response");
    ErrorFields result;
    for (;;) {
        if (reader.at_end()) return protocol_error("error response is not terminated");
        const char type = reader.byte();
        if (type == '\0') break;
        auto value = reader.cstring();
        if (!value) return value.error();
        result.fields.emplace_back(type, std::string(*value));
    }
    if (!reader.at_end()) return protocol_error("error response has trailing bytes");
    return result;
}

Result<CancelRequest> parse_backend_key_data(std::string_view body) {
    if (body.size() != 8) {
        return protocol_error("BackendKeyData must be 8 bytes, got " + std::to_string(body.size()));
    }
    return CancelRequest{load_u32(body), load_u32(body.substr(4))};
}

Result<NegotiateProtocolVersion> parse_negotiate_protocol_version(std::string_view body) {
    Reader reader(body, "NegotiateProtocolVersion");
    NegotiateProtocolVersion result;
    auto minor = reader.u32();
    if (!minor) return minor.error();
    auto count = reader.u32();
    if (!count) return count.error();
    result.newest_minor = *minor;
    for (std::uint32_t i = 0; i < *count; ++i) {
        if (reader.at_end()) return protocol_error("NegotiateProtocolVersion is truncated");
        auto name = reader.cstring();
        if (!name) return name.error();
        result.unrecognized.emplace_back(*name);
    }
    if (!reader.at_end()) return protocol_error("NegotiateProtocolVersion has trailing bytes");
    return result;
}

std::string build_authentication(std::uint32_t code, std::string_view data) {
    std::string body;
    put_u32(body, code);
    body.append(data);
    return typed_message('R', body);
}

std::string build_error_response(std::string_view sqlstate, std::string_view message,
                                 std::string_view severity) {
    std::string body;
    body.push_back('S');
    put_cstring(body, severity);
    body.push_back('V');
    put_cstring(body, severity);
    body.push_back('C');
    put_cstring(body, sqlstate);
    body.push_back('M');
    // A NUL inside the text would end the field early and desynchronize the client.
    std::string text(message);
    std::replace(text.begin(), text.end(), '\0', '?');
    put_cstring(body, text);
    body.push_back('\0');
    return typed_message('E', body);
}

std::string build_negotiate_protocol_version(std::uint32_t newest_minor,
                                             const std::vector<std::string>& unrecognized) {
    std::string body;
    put_u32(body, newest_minor);
    put_u32(body, static_cast<std::uint32_t>(unrecognized.size()));
    for (const auto& name : unrecognized) put_cstring(body, name);
    return typed_message('v', body);
}

std::string describe_type(char type) {
    const auto u = static_cast<unsigned char>(type);
    if (u >= 0x21 && u < 0x7f) return std::string("'") + type + "'";
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("0x") + kHex[u >> 4] + kHex[u & 0xf];
}

}  // namespace cloakroom::db::postgres
