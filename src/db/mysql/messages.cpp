#include "db/mysql/messages.hpp"

#include <algorithm>

#include "db/mysql/protocol.hpp"

namespace cloakroom::db::mysql {

namespace {

Error malformed(std::string_view what) {
    return make_error("mysql.handshake", "malformed " + std::string(what));
}

std::string_view drop_trailing_nul(std::string_view data) {
    if (!data.empty() && data.back() == '\0') data.remove_suffix(1);
    return data;
}

// Key/value pairs of length-encoded strings, nothing left over.
bool valid_connect_attrs(std::string_view attrs) {
    Reader reader(attrs);
    while (!reader.empty()) {
        if (!reader.lenenc_string() || !reader.lenenc_string()) return false;
    }
    return true;
}

}  // namespace

std::uint32_t InitialHandshake::mariadb_capabilities() const {
    if ((capabilities & kClientLongPassword) != 0 || reserved.size() != 10) return 0;
    Reader reader(std::string_view(reserved).substr(6));
    return reader.u32().value_or(0);
}

Result<InitialHandshake> parse_initial_handshake(std::string_view payload) {
    Reader reader(payload);
    InitialHandshake out;
    const auto version = reader.u8();
    if (!version) return malformed("server greeting (empty)");
    if (*version != 10) {
        return make_error("mysql.handshake", "unsupported server protocol version " +
                                                 std::to_string(*version) + " (expected 10)");
    }
    out.protocol_version = *version;
    const auto server_version = reader.nul_string();
    const auto connection_id = reader.u32();
    const auto part1 = reader.bytes(8);
    const auto filler = reader.u8();
    const auto caps_low = reader.u16();
    if (!server_version || !connection_id || !part1 || !filler || !caps_low) {
        return malformed("server greeting (truncated)");
    }
    out.server_version = std::string(*server_version);
    out.connection_id = *connection_id;
    out.capabilities = *caps_low;
    std::string nonce(*part1);
    std::uint8_t auth_data_length = 0;
    if (!reader.empty()) {
        const auto charset = reader.u8();
        const auto status = reader.u16();
        const auto caps_high = reader.u16();
        const auto auth_length = reader.u8();
        const auto reserved = reader.bytes(10);
        if (!charset || !status || !caps_high || !auth_length || !reserved) {
            return malformed("server greeting (truncated)");
        }
        out.charset = *charset;
        out.status = *status;
        out.capabilities |= static_cast<std::uint32_t>(*caps_high) << 16;
        auth_data_length = *auth_length;
        out.reserved = std::string(*reserved);
        if ((out.capabilities & kClientSecureConnection) != 0) {
            const std::size_t part2_length =
                std::max<std::size_t>(13, auth_data_length > 8 ? auth_data_length - 8u : 0u);
            const auto part2 = reader.bytes(std::min(part2_length, reader.remaining()));
            nonce += drop_trailing_nul(*part2);
        }
        if ((out.capabilities & kClientPluginAuth) != 0) {
            out.auth_plugin = std::string(reader.nul_or_rest_string());
        }
    }
    out.nonce = std::move(nonce);
    return out;
}

std::string build_initial_handshake(const InitialHandshake& greeting) {
    std::string out;
    const bool plugin_auth = (greeting.capabilities & kClientPluginAuth) != 0;
    const std::string_view nonce = greeting.nonce;
    put_u8(out, greeting.protocol_version);
    put_nul_string(out, greeting.server_version);
    put_u32(out, greeting.connection_id);
    std::string part1(nonce.substr(0, 8));
    part1.resize(8, '\0');
    out += part1;
    put_u8(out, 0);
    put_u16(out, static_cast<std::uint16_t>(greeting.capabilities & 0xFFFF));
    put_u8(out, greeting.charset);
    put_u16(out, greeting.status);
    put_u16(out, static_cast<std::uint16_t>(greeting.capabilities >> 16));
    put_u8(out, plugin_auth
                    ? static_cast<std::uint8_t>(std::min<std::size_t>(nonce.size() + 1, 255))
                    : 0);
    std::string reserved = greeting.reserved;
    reserved.resize(10, '\0');
    out += reserved;
    if ((greeting.capabilities & kClientSecureConnection) != 0) {
        std::string part2(nonce.size() > 8 ? nonce.substr(8) : std::string_view{});
        part2.push_back('\0');
        if (part2.size() < 13) part2.resize(13, '\0');
        out += part2;
    }
    if (plugin_auth) put_nul_string(out, greeting.auth_plugin);
    return out;
}

bool is_ssl_request(std::string_view payload) {
    if (payload.size() != kSslRequestSize) return false;
    Reader reader(payload);
    const std::uint32_t caps = reader.u32().value_or(0);
    return (caps & kClientSsl) != 0 && (caps & kClientProtocol41) != 0;
}

Result<HandshakeResponse> parse_handshake_response(std::string_view payload) {
    Reader reader(payload);
    HandshakeResponse out;
    const auto caps = reader.u32();
    if (!caps) return malformed("login packet (truncated)");
    if ((*caps & kClientProtocol41) == 0) {
        return make_error("mysql.handshake",
                          "the client uses the pre-4.1 protocol, which Cloakroom does not support");
    }
    const auto max_packet = reader.u32();
    const auto charset = reader.u8();
    const auto filler = reader.bytes(23);
    const auto user = reader.nul_string();
    if (!max_packet || !charset || !filler || !user) return malformed("login packet (truncated)");
    out.capabilities = *caps;
    out.max_packet = *max_packet;
    out.charset = *charset;
    out.filler = std::string(*filler);
    out.user = std::string(*user);
    if (reader.empty()) return out;  // no auth response at all: an empty password

    std::optional<std::string_view> auth;
    if ((out.capabilities & kClientPluginAuthLenencData) != 0) {
        auth = reader.lenenc_string();
    } else if ((out.capabilities & kClientSecureConnection) != 0) {
        if (const auto length = reader.u8()) auth = reader.bytes(*length);
    } else {
        auth = reader.nul_string();
    }
    if (!auth) return malformed("login packet (auth response)");
    out.auth_response = std::string(*auth);

    if ((out.capabilities & kClientConnectWithDb) != 0 && !reader.empty()) {
        out.database = std::string(reader.nul_or_rest_string());
    }
    if ((out.capabilities & kClientPluginAuth) != 0 && !reader.empty()) {
        out.auth_plugin = std::string(reader.nul_or_rest_string());
    }
    if ((out.capabilities & kClientConnectAttrs) != 0 && !reader.empty()) {
        const auto attrs = reader.lenenc_string();
        if (!attrs || !valid_connect_attrs(*attrs)) {
            return malformed("login packet (connection attributes)");
        }
        out.connect_attrs = std::string(*attrs);
    }
    if ((out.capabilities & kClientZstdCompression) != 0 && !reader.empty()) {
        out.zstd_level = reader.u8();
    }
    return out;
}

std::string build_ssl_request(const HandshakeResponse& response) {
    std::string out;
    put_u32(out, response.capabilities);
    put_u32(out, response.max_packet);
    put_u8(out, response.charset);
    std::string filler = response.filler;
    filler.resize(23, '\0');
    out += filler;
    return out;
}

std::string build_handshake_response(const HandshakeResponse& response) {
    std::string out = build_ssl_request(response);
    const std::uint32_t caps = response.capabilities;
    put_nul_string(out, response.user);
    if ((caps & kClientPluginAuthLenencData) != 0) {
        put_lenenc_string(out, response.auth_response);
    } else if ((caps & kClientSecureConnection) != 0) {
        const std::string_view auth = std::string_view(response.auth_response).substr(0, 255);
        put_u8(out, static_cast<std::uint8_t>(auth.size()));
        out += auth;
    } else {
        put_nul_string(out, response.auth_response);
    }
    if ((caps & kClientConnectWithDb) != 0) put_nul_string(out, response.database.value_or(""));
    if ((caps & kClientPluginAuth) != 0) put_nul_string(out, response.auth_plugin.value_or(""));
    if ((caps & kClientConnectAttrs) != 0) {
        put_lenenc_string(out, response.connect_attrs.value_or(""));
    }
    if ((caps & kClientZstdCompression) != 0) put_u8(out, response.zstd_level.value_or(3));
    return out;
}

Result<AuthSwitchRequest> parse_auth_switch(std::string_view payload) {
    Reader reader(payload);
    if (reader.u8() != std::optional<std::uint8_t>(kAuthSwitchHeader)) {
        return malformed("auth switch request");
    }
    if (reader.empty()) {
        return make_error("mysql.handshake",
                          "the server asks for pre-4.1 (old_password) authentication, which "
                          "Cloakroom does not support");
    }
    AuthSwitchRequest out;
    out.plugin = std::string(reader.nul_or_rest_string());
    out.data = std::string(drop_trailing_nul(reader.rest()));
    return out;
}

std::string build_auth_switch(std::string_view plugin, std::string_view nonce) {
    std::string out;
    put_u8(out, kAuthSwitchHeader);
    put_nul_string(out, plugin);
    out += nonce;
    out.push_back('\0');
    return out;
}

std::string build_auth_more_data(std::string_view data) {
    std::string out;
    put_u8(out, kAuthMoreDataHeader);
    out += data;
    return out;
}

Result<ErrPacket> parse_err(std::string_view payload) {
    Reader reader(payload);
    if (reader.u8() != std::optional<std::uint8_t>(kErrHeader)) return malformed("error packet");
    const auto code = reader.u16();
    if (!code) return malformed("error packet");
    ErrPacket out;
    out.code = *code;
    if (reader.remaining() >= 6 && payload[3] == '#') {
        (void)reader.u8();
        out.sql_state = std::string(*reader.bytes(5));
    }
    out.message = std::string(reader.rest());
    return out;
}

std::string build_err(std::uint16_t code, std::string_view sql_state, std::string_view message) {
    std::string out;
    put_u8(out, kErrHeader);
    put_u16(out, code);
    out.push_back('#');
    std::string state(sql_state.substr(0, 5));
    state.resize(5, '0');
    out += state;
    out += message;
    return out;
}

}  // namespace cloakroom::db::mysql
