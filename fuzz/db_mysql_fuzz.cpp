// libFuzzer target for the MySQL gateway's pure code (src/db/mysql): packet framing, the
// connection-phase parsers and builders, and both login state machines. The first input byte
// selects what is driven (fuzz/seed_db_mysql.py writes seeds for each):
//   0  server greeting: parse, rebuild, re-parse; Cloakroom's greeting to the client from it
//   1  client login: parse/rebuild/re-parse a HandshakeResponse41, then run ClientLogin on it
//      and on the packets that follow (byte 1 says whether the client link is TLS)
//   2  upstream login: UpstreamLogin fed the server packets in the input
//   3  raw framing and field readers
// Parsers must never crash; whatever parses must rebuild into something that parses the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "db/mysql/auth_crypto.hpp"
#include "db/mysql/client_login.hpp"
#include "db/mysql/messages.hpp"
#include "db/mysql/protocol.hpp"
#include "db/mysql/relay_filters.hpp"
#include "db/mysql/rsa_key.hpp"
#include "db/mysql/upstream_login.hpp"

namespace {

using namespace cloakroom;
using namespace cloakroom::db::mysql;

constexpr std::size_t kMaxPacket = 64 * 1024;

void check(bool condition) {
    if (!condition) std::abort();
}

// A small key made once: the fuzzer exercises the RSA paths without a 4096-bit key's cost.
std::shared_ptr<const RsaKey> fuzz_key() {
    static const std::shared_ptr<const RsaKey> key = [] {
        auto made = generate_rsa_key(1024);
        check(made.ok());
        return *made;
    }();
    return key;
}

Result<std::shared_ptr<const RsaKey>> key_source() {
    return fuzz_key();
}

// Splits the input into packets (framing errors end the list).
template <class F>
void for_each_packet(std::string_view bytes, F&& f) {
    while (!bytes.empty()) {
        std::size_t consumed = 0;
        auto packet = take_packet(bytes, kMaxPacket, consumed);
        if (!packet.ok() || !packet->has_value()) return;
        f((*packet)->payload);
        bytes.remove_prefix(consumed);
    }
}

void fuzz_greeting(std::string_view input) {
    auto greeting = parse_initial_handshake(input);
    if (!greeting.ok()) return;
    (void)greeting->mariadb_capabilities();
    auto again = parse_initial_handshake(build_initial_handshake(*greeting));
    check(again.ok());
    check(again->server_version == greeting->server_version);
    check(again->connection_id == greeting->connection_id);
    check(again->charset == greeting->charset && again->status == greeting->status);
    for (bool tls : {false, true}) {
        if (!check_server_greeting(*greeting, tls).ok()) continue;
        const InitialHandshake ours = client_greeting(*greeting, make_nonce(), tls);
        auto parsed = parse_initial_handshake(build_initial_handshake(ours));
        check(parsed.ok());
        check(parsed->nonce == ours.nonce);
        check(parsed->auth_plugin == kCachingSha2Password);
        check(parsed->capabilities == ours.capabilities);
        check(parsed->reserved == greeting->reserved);
    }
}

void fuzz_client_login(std::string_view input) {
    if (input.empty()) return;
    const bool tls = (static_cast<std::uint8_t>(input[0]) & 1) != 0;
    input.remove_prefix(1);
    std::string first;
    std::string_view rest;
    {
        std::size_t consumed = 0;
        auto packet = take_packet(input, kMaxPacket, consumed);
        if (packet.ok() && packet->has_value()) {
            first = std::move((*packet)->payload);
            rest = input.substr(consumed);
        } else {
            first = std::string(input);  // the whole input as one login packet
        }
    }
    (void)is_ssl_request(first);
    auto response = parse_handshake_response(first);
    if (!response.ok()) return;
    auto again = parse_handshake_response(build_handshake_response(*response));
    check(again.ok());
    check(again->capabilities == response->capabilities);
    check(again->max_packet == response->max_packet && again->charset == response->charset);
    check(again->filler == response->filler && again->user == response->user);
    check(again->auth_response == response->auth_response);
    check(again->database.value_or("") == response->database.value_or(""));
    check(again->auth_plugin.value_or("") == response->auth_plugin.value_or(""));
    check(again->connect_attrs.value_or("") == response->connect_attrs.value_or(""));
    check(build_ssl_request(*response).size() == kSslRequestSize);

    ClientLogin login(std::string("abcdefghijklmnopqrst"), tls, key_source);
    ClientLogin::Step step = login.start(*response);
    for_each_packet(rest, [&](const std::string& payload) {
        if (step.kind != ClientLogin::Kind::Reply) return;
        (void)login.wants_key(payload);
        step = login.next(payload);
    });
    if (step.kind == ClientLogin::Kind::Refuse) check(parse_err(step.payload).ok());
    if (step.kind == ClientLogin::Kind::Token) check(!step.token.empty());

    // The same client options, logged in upstream.
    InitialHandshake server;
    server.server_version = "5.5.5-10.11.6-MariaDB";
    server.nonce = "ABCDEFGHIJKLMNOPQRST";
    server.capabilities = 0xFFFFFFFEu;
    server.auth_plugin = std::string(kNativePassword);
    UpstreamLogin upstream(server, *response, "real_user", "real-password", tls);
    auto sent = parse_handshake_response(upstream.handshake_response());
    check(sent.ok());
    check(sent->user == "real_user");
    check(sent->max_packet == response->max_packet && sent->charset == response->charset);
    check(is_ssl_request(upstream.ssl_request()) == ((sent->capabilities & kClientSsl) != 0));
}

void fuzz_upstream_login(std::string_view input) {
    if (input.empty()) return;
    const std::uint8_t flags = static_cast<std::uint8_t>(input[0]);
    input.remove_prefix(1);
    InitialHandshake server;
    server.server_version = "8.0.36";
    server.nonce = "ABCDEFGHIJKLMNOPQRST";
    server.capabilities = 0xFFFFFFFFu;
    server.auth_plugin = std::string((flags & 2) != 0 ? kCachingSha2Password : kNativePassword);
    HandshakeResponse client;
    client.capabilities = kClientProtocol41 | kClientSecureConnection | kClientPluginAuth |
                          kClientPluginAuthLenencData | kClientConnectWithDb;
    client.user = "agent";
    client.database = "shop";
    UpstreamLogin login(server, client, "real_user", "real-password", (flags & 1) != 0);
    (void)login.handshake_response();
    bool done = false;
    for_each_packet(input, [&](const std::string& payload) {
        if (done) return;
        UpstreamLogin::Step step = login.next(payload);
        switch (step.kind) {
            case UpstreamLogin::Kind::Send:
            case UpstreamLogin::Kind::Wait:
                break;
            case UpstreamLogin::Kind::Ok:
            case UpstreamLogin::Kind::Err:
                check(step.payload == payload);
                done = true;
                break;
            case UpstreamLogin::Kind::Fail:
                check(!step.error.empty());
                // The error may quote what the server sent (a plugin name, say), so the password
                // only counts as leaked when the fuzzer's input did not carry it itself.
                check(step.error.find("real-password") == std::string::npos ||
                      input.find("real-password") != std::string_view::npos);
                done = true;
                break;
        }
    });
}

void fuzz_fields(std::string_view input) {
    for_each_packet(input, [](const std::string& payload) {
        (void)parse_err(payload);
        (void)parse_auth_switch(payload);
        (void)parse_initial_handshake(payload);
        (void)parse_handshake_response(payload);
    });
    Reader reader(input);
    while (!reader.empty()) {
        const std::size_t before = reader.remaining();
        if (auto value = reader.lenenc_int()) {
            std::string out;
            put_lenenc_int(out, *value);
            Reader back(out);
            check(back.lenenc_int() == value);
        } else if (!reader.lenenc_string() && !reader.nul_string()) {
            (void)reader.u8();
        }
        check(reader.remaining() < before);
    }
    const std::string framed = frame_packet(3, input);
    std::size_t consumed = 0;
    auto packet = take_packet(framed, framed.size(), consumed);
    if (input.size() < kMaxPayload) {
        check(packet.ok() && packet->has_value());
        check((*packet)->payload == input && (*packet)->seq == 3 && consumed == framed.size());
    }
}

}  // namespace

// The relay guards: the output must not depend on how the input is chunked; what the command
// guard sends on holds no COM_CHANGE_USER (a second guard over it refuses nothing and changes
// nothing); the reply guard keeps every length (it only ever stars bytes or swaps ERR payloads).
void fuzz_guards(std::string_view input) {
    using namespace cloakroom::db::mysql;
    const std::size_t cut = input.empty() ? 0 : static_cast<unsigned char>(input[0]) % input.size();
    auto refusals = std::make_shared<Refusals>();
    refusals->marker = "cloakroom_refused_00";
    CommandGuard whole(refusals);
    std::string whole_out;
    whole.feed(input, whole_out);
    auto split_refusals = std::make_shared<Refusals>();
    split_refusals->marker = refusals->marker;
    CommandGuard split(split_refusals);
    std::string split_out;
    split.feed(input.substr(0, cut), split_out);
    split.feed(input.substr(cut), split_out);
    if (split_out != whole_out || split_refusals->count != refusals->count) std::abort();
    auto again_refusals = std::make_shared<Refusals>();
    again_refusals->marker = refusals->marker;
    CommandGuard again(again_refusals);
    std::string again_out;
    again.feed(whole_out, again_out);
    if (again_refusals->count != 0 || again_out != whole_out) std::abort();

    ReplyGuard replies(refusals, {"s3cr3t"});
    std::string reply_out;
    replies.feed(input.substr(0, cut), reply_out);
    replies.feed(input.substr(cut), reply_out);
    ReplyGuard plain(std::make_shared<Refusals>(), {});
    std::string plain_out;
    plain.feed(input, plain_out);
    if (input.substr(0, plain_out.size()) != plain_out) std::abort();
    if (refusals->count == 0 && reply_out.size() != plain_out.size()) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0:
            fuzz_greeting(input);
            break;
        case 1:
            fuzz_client_login(input);
            break;
        case 2:
            fuzz_upstream_login(input);
            break;
        default:
            fuzz_fields(input);
            fuzz_guards(input);
            break;
    }
    return 0;
}
