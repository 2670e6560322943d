// One MySQL/MariaDB client connection. Cloakroom dials the database server first and reads its
// greeting, greets the agent's client with the same version and capabilities (and its own nonce,
// asking for caching_sha2_password), obtains the token in readable form (client_login), checks
// it, logs in upstream with the client's options and the real password (upstream_login), hands
// the client the server's OK, then relays bytes. The wire formats live in messages/protocol; this
// file only sequences them over the streams, under one deadline for the whole login phase.
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "db/audit.hpp"
#include "db/login.hpp"
#include "db/mysql/auth_crypto.hpp"
#include "db/mysql/client_login.hpp"
#include "db/mysql/messages.hpp"
#include "db/mysql/protocol.hpp"
#include "db/mysql/relay_filters.hpp"
#include "db/mysql/rsa_key.hpp"
#include "db/mysql/upstream_login.hpp"
#include "db/relay.hpp"
#include "db/reply_secrets.hpp"
#include "db/session.hpp"
#include "db/session_frame.hpp"
#include "db/token_shape.hpp"
#include "db/upstream.hpp"

namespace cloakroom::db {
namespace {

using namespace mysql;

constexpr std::size_t kMaxClientPacket = 256 * 1024;     // login packet with attributes, token
constexpr std::size_t kMaxServerPacket = 256 * 1024;     // greeting, public key, OK/ERR
constexpr std::string_view kIoError = "mysql.io";        // the peer is gone: nothing to send
constexpr std::string_view kOrderError = "mysql.order";  // a sequence id out of order

void wipe(std::string& bytes) {
    if (bytes.capacity() > 0) OPENSSL_cleanse(bytes.data(), bytes.capacity());
    bytes.clear();
}

// Cloakroom's RSA key takes up to a second or two to generate: never on an I/O thread.
net::thread_pool& key_pool() {
    static net::thread_pool pool(1);
    return pool;
}

// Returns once the key generation that start_mysql_key_generation started has finished (or a
// retry after a failed one has).
net::awaitable<void> wait_for_key() {
    co_await net::co_spawn(
        key_pool(),
        []() -> net::awaitable<void> {
            (void)process_rsa_key();
            co_return;
        },
        net::use_awaitable);
}

// The session's refusal marker: unguessable, so no query of the agent's can pose as a refusal.
std::string make_marker() {
    unsigned char bytes[12];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return "cloakroom_refused_fallback";
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out = "cloakroom_refused_";
    for (const unsigned char b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

class MysqlSession : private SessionFrame {
  public:
    explicit MysqlSession(Session& session) : SessionFrame(session, "mysql") {}

    net::awaitable<void> run() {
        auto executor = co_await net::this_coro::executor;
        start_login_deadline(executor);
        co_await login_and_relay();
        finish();
    }

  private:
    // ---- outcome helpers ----

    // Sends the client an ERR packet (best effort) with the next sequence id, and records it.
    net::awaitable<void> refuse(std::string_view decision, std::uint16_t code,
                                std::string_view sql_state, std::string message) {
        co_await send_client_raw(build_err(code, sql_state, "Cloakroom: " + message));
        record(decision, std::move(message));
    }

    // A failure: an I/O error is only recorded; anything else is also told to the client.
    net::awaitable<void> fail(const Error& error, std::uint16_t code = kErHandshake,
                              std::string_view sql_state = "08S01") {
        if (error.code == kIoError) {
            record("error", io_reason(error.message));
            co_return;
        }
        co_await refuse("error", code, sql_state, error.message);
    }

    // ---- packets ----

    net::awaitable<Result<Packet>> read_packet(DbStream& stream, std::uint8_t expected_seq,
                                               std::size_t max_payload, std::string_view who) {
        boost::system::error_code ec;
        std::string head;
        co_await stream.read_exact(head, kHeaderSize, ec);
        if (ec) {
            co_return make_error(std::string(kIoError),
                                 std::string(who) + " closed the connection during login");
        }
        const PacketHeader header = parse_header(head);
        if (header.length >= kMaxPayload || header.length > max_payload) {
            co_return make_error("mysql.packet", std::string(who) + " sent a packet of " +
                                                     std::to_string(header.length) +
                                                     " bytes during login (at most " +
                                                     std::to_string(max_payload) + ")");
        }
        if (header.seq != expected_seq) {
            co_return make_error(std::string(kOrderError),
                                 std::string(who) + " sent packet number " +
                                     std::to_string(header.seq) + ", expected " +
                                     std::to_string(expected_seq) + " (packets out of order)");
        }
        Packet packet;
        packet.seq = header.seq;
        co_await stream.read_exact(packet.payload, header.length, ec);
        if (ec) {
            co_return make_error(std::string(kIoError),
                                 std::string(who) + " closed the connection during login");
        }
        co_return packet;
    }

    net::awaitable<Result<Packet>> read_client() {
        auto packet = co_await read_packet(s_.client, static_cast<std::uint8_t>(client_seq_ + 1),
                                           kMaxClientPacket, "the client");
        if (packet) client_seq_ = packet->seq;
        co_return packet;
    }

    net::awaitable<Result<Packet>> read_upstream() {
        auto packet = co_await read_packet(*upstream_, static_cast<std::uint8_t>(upstream_seq_ + 1),
                                           kMaxServerPacket, "the database server");
        if (packet) upstream_seq_ = packet->seq;
        co_return packet;
    }

    net::awaitable<bool> send_client_raw(std::string_view payload) {
        client_seq_ = static_cast<std::uint8_t>(client_seq_ + 1);
        boost::system::error_code ec;
        co_await s_.client.write_all(frame_packet(client_seq_, payload), ec);
        co_return !ec;
    }

    // Sends a packet whose payload may hold a secret; the framed copy is wiped.
    net::awaitable<bool> send_upstream(std::string_view payload) {
        upstream_seq_ = static_cast<std::uint8_t>(upstream_seq_ + 1);
        std::string framed = frame_packet(upstream_seq_, payload);
        boost::system::error_code ec;
        co_await upstream_->write_all(framed, ec);
        wipe(framed);
        co_return !ec;
    }

    // ---- phases ----

    net::awaitable<void> login_and_relay() {
        const config::Database& database = *s_.database;
        const bool upstream_tls = database.tls != config::DatabaseTlsMode::Disable;

        // 0. A client without TLS needs Cloakroom's RSA key, which start-up generates in the
        // background. Until it exists, wait before dialing: once dialed, the server's own login
        // timeout runs (MariaDB's connect_timeout, 10 s by default) and a slow generation on a
        // busy machine would make it hang up mid-login. The login deadline still applies.
        if (database.client_tls != config::ClientTlsMode::Required && !process_rsa_key_ready()) {
            start_mysql_key_generation();
            co_await wait_for_key();
        }

        // 1. The database server's greeting: its version and capabilities become Cloakroom's.
        // Until the client's first packet, an ERR takes the greeting's place (sequence 0).
        client_seq_ = 0xFF;
        auto greeting = co_await read_server_greeting();
        if (!greeting) {
            if (greeting.error().code == "mysql.upstream.err") {
                co_return;  // the server's own ERR was passed on
            }
            spdlog::warn("database \"{}\": {}", database.name, greeting.error().message);
            co_await refuse("error", kErUnknown, "HY000",
                            "database \"" + database.name + "\": " + greeting.error().message);
            co_return;
        }
        const InitialHandshake& server = *greeting;

        // 2. Greet the client.
        const std::string nonce = make_nonce();
        const bool offer_tls =
            database.client_tls != config::ClientTlsMode::Off && s_.services->client_tls != nullptr;
        if (!co_await send_client_raw(
                build_initial_handshake(client_greeting(server, nonce, offer_tls)))) {
            record("error", io_reason("the client closed the connection"));
            co_return;
        }

        // 3. The client's login packet, after TLS when it asks for it.
        auto first = co_await read_client();
        if (!first) {
            co_await fail(first.error());
            co_return;
        }
        if (is_ssl_request(first->payload)) {
            if (!offer_tls) {
                co_await refuse("error", kErHandshake, "08S01",
                                "the client asked for TLS, which this listener does not offer");
                co_return;
            }
            auto accepted = co_await s_.client.accept_tls(*s_.services->client_tls);
            if (!accepted) {
                record("error", io_reason(accepted.error().message));
                co_return;
            }
            first = co_await read_client();
            if (!first) {
                co_await fail(first.error());
                co_return;
            }
        }
        auto response = parse_handshake_response(first->payload);
        wipe(first->payload);
        if (!response) {
            co_await refuse("error", kErHandshake, "08S01",
                            "bad handshake: " + response.error().message);
            co_return;
        }
        audit_.login = shown_name(response->user, s_.runtime->config.token.prefix);
        audit_.db_name =
            shown_name(response->database.value_or(""), s_.runtime->config.token.prefix);
        if ((response->capabilities & (kClientCompress | kClientZstdCompression)) != 0) {
            // Not offered in the greeting: Cloakroom reads every command and reply.
            co_await refuse("error", kErHandshake, "08S01",
                            "compression is not available through Cloakroom (it reads every "
                            "command and reply); connect without --compress");
            co_return;
        }
        if (database.client_tls == config::ClientTlsMode::Required && !s_.client.is_tls()) {
            co_await refuse("deny", kErSecureTransportRequired, "HY000",
                            "this listener requires TLS: connect with TLS (mariadb/mysql --ssl, "
                            "--ssl-mode=REQUIRED; PyMySQL ssl={...})");
            co_return;
        }

        // 4. The token, in readable form.
        auto token = co_await obtain_token(*response, nonce);
        wipe(response->auth_response);
        if (!token) co_return;

        // 5. Is the token good for this login?
        const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
        LoginDecision decision =
            authorize_login(*s_.runtime, database,
                            LoginRequest{response->user, response->database.value_or(""),
                                         token->reveal(), now_unix});
        token.reset();
        if (auto* denied = std::get_if<LoginDenied>(&decision)) {
            audit_.token_id = denied->token_id;
            if (denied->kind == Denial::Unavailable) {
                co_await refuse("error", kErUnknown, "HY000", denied->message);
            } else if (denied->kind == Denial::Limited) {
                co_await refuse("deny", kErUserLimitReached, "42000", denied->message);
            } else {
                // The user name is quoted only when it cannot be a token.
                const std::string who =
                    looks_like_token(response->user, s_.runtime->config.token.prefix)
                        ? std::string("access denied: ")
                        : "access denied for user '" + response->user + "': ";
                co_await refuse("deny", kErAccessDenied, "28000", who + denied->message);
            }
            co_return;
        }
        auto& granted = std::get<LoginGranted>(decision);
        audit_.token_id = granted.token_id;
        register_live(granted.token_id, granted.minted);
        exchange_.hold(std::move(granted.permit));
        SecretBytes password(granted.password ? std::string(granted.password->reveal())
                                              : std::string());
        SessionSecrets secrets;
        secrets.add_password(password.reveal());
        granted.password.reset();

        // 6. Log in upstream with the client's options and the real password.
        std::optional<UpstreamLogin> upstream_login;
        upstream_login.emplace(server, *response, granted.login->user, password.reveal(),
                               upstream_tls);
        auto ok = co_await upstream_login_exchange(*upstream_login, upstream_tls);
        upstream_login.reset();
        if (!ok) co_return;

        // 7. The client's login succeeds with the server's own OK packet.
        if (!co_await send_client_raw(*ok)) {
            record("error", io_reason("the client closed the connection"));
            co_return;
        }
        deadline_.reset();  // the login is done; databases idle legitimately
        spdlog::debug("database \"{}\": {} logged in as {}, token {}", database.name, audit_.client,
                      granted.login->name, audit_.token_id);
        password = SecretBytes(std::string());
        auto refusals = std::make_shared<Refusals>();
        refusals->marker = make_marker();
        CommandGuard commands(refusals);
        ReplyGuard replies(refusals, secrets.needles());
        RelayFilters filters;
        filters.client = [&commands](std::string_view chunk, std::string& out) {
            return commands.feed(chunk, out);
        };
        filters.server = [&replies](std::string_view chunk, std::string& out) {
            return replies.feed(chunk, out);
        };
        static constexpr char kQuit[] = {1, 0, 0, 0, 1};  // length 1, sequence 0, COM_QUIT
        auto relaying = relay(s_.client, *upstream_, std::string(), std::string(),
                              std::move(filters), std::string_view(kQuit, sizeof kQuit));
        auto placed = relay_placed(std::move(relaying));
        const RelayStats stats = co_await std::move(placed);
        audit_.bytes_in = stats.client_to_upstream;
        audit_.bytes_out = stats.upstream_to_client;
        std::string reason = "ended by " + stats.ended_by;
        if (refusals->count > 0) {
            std::string names;
            for (const auto& name : refusals->names) names += (names.empty() ? "" : ", ") + name;
            reason += "; refused " + std::to_string(refusals->count) + " commands (" + names + ")";
            spdlog::info("database \"{}\": {} refused {} ({}), token {}", database.name,
                         audit_.client, names, refusals->count, audit_.token_id);
        }
        if (replies.redactions() > 0) {
            reason += "; redacted " + std::to_string(replies.redactions()) + " secrets in replies";
        }
        record("allow", reason);
    }

    // Dials the server and reads its greeting. A server ERR (e.g. too many connections) is
    // passed on to the client and reported as "mysql.upstream.err".
    net::awaitable<Result<InitialHandshake>> read_server_greeting() {
        const config::Database& database = *s_.database;
        auto dialed = co_await dial_database(database, s_.services->timeouts.connect);
        if (!dialed) co_return dialed.error();
        upstream_.emplace(std::move(*dialed));
        deadline_->watch(*upstream_);
        upstream_seq_ = 0xFF;
        auto packet = co_await read_upstream();
        if (!packet) co_return Error{packet.error().code, io_reason(packet.error().message)};
        if (!packet->payload.empty() &&
            static_cast<std::uint8_t>(packet->payload[0]) == kErrHeader) {
            auto err = parse_err(packet->payload);
            const std::string text = err ? err->message : std::string("malformed error");
            spdlog::warn("database \"{}\": the database server refused the connection: {}",
                         database.name, text);
            (void)co_await send_client_raw(packet->payload);
            record("error", "the database server refused the connection: " + text);
            co_return make_error("mysql.upstream.err", text);
        }
        auto greeting = parse_initial_handshake(packet->payload);
        if (!greeting) co_return greeting.error();
        auto usable =
            check_server_greeting(*greeting, database.tls != config::DatabaseTlsMode::Disable);
        if (!usable) co_return usable.error();
        co_return std::move(*greeting);
    }

    // Runs client_login; on refusal the client has been told and the outcome recorded.
    net::awaitable<std::optional<SecretBytes>> obtain_token(const HandshakeResponse& response,
                                                            const std::string& nonce) {
        ClientLogin login(nonce, s_.client.is_tls(), process_rsa_key);
        login.set_token_prefix(s_.runtime->config.token.prefix);
        ClientLogin::Step step = login.start(response);
        for (;;) {
            switch (step.kind) {
                case ClientLogin::Kind::Token:
                    co_return std::move(step.token);
                case ClientLogin::Kind::Refuse: {
                    auto err = parse_err(step.payload);
                    const bool ours = err && err->code == kErUnknown;
                    (void)co_await send_client_raw(step.payload);
                    record(ours ? "error" : "deny", std::move(step.reason));
                    co_return std::nullopt;
                }
                case ClientLogin::Kind::Reply:
                    break;
            }
            if (!co_await send_client_raw(step.payload)) {
                record("error", io_reason("the client closed the connection"));
                co_return std::nullopt;
            }
            const bool full_auth_without_tls = login.in_full_auth_without_tls();
            auto packet = co_await read_client();
            if (!packet) {
                if (packet.error().code == kIoError && full_auth_without_tls &&
                    !(deadline_ && deadline_->expired())) {
                    // MySQL's own client does this unless it may fetch the server's key.
                    record("error",
                           "the client closed the connection when asked for its password "
                           "without TLS (a MySQL client needs --get-server-public-key, or TLS)");
                    co_return std::nullopt;
                }
                co_await fail(packet.error());
                co_return std::nullopt;
            }
            if (login.wants_key(packet->payload)) co_await wait_for_key();
            step = login.next(packet->payload);
            wipe(packet->payload);
        }
    }

    // TLS (per the database's mode; never a plaintext fallback), the login packet and the
    // server's authentication exchange. Returns the server's OK packet; otherwise the client has
    // been told and the outcome recorded.
    net::awaitable<std::optional<std::string>> upstream_login_exchange(UpstreamLogin& login,
                                                                       bool tls) {
        const config::Database& database = *s_.database;
        if (tls) {
            if (!co_await send_upstream(login.ssl_request())) {
                co_await upstream_failure(
                    make_error(std::string(kIoError), "the database server closed the connection"));
                co_return std::nullopt;
            }
            const auto context = s_.runtime->database_tls.find(database.name);
            if (context == s_.runtime->database_tls.end() || !context->second) {
                co_await upstream_failure(make_error("db.tls", "no TLS context for the database"));
                co_return std::nullopt;
            }
            auto secured = co_await upstream_->connect_tls(*context->second, database);
            if (!secured) {
                co_await upstream_failure(secured.error());
                co_return std::nullopt;
            }
        }
        std::string first = login.handshake_response();
        const bool sent = co_await send_upstream(first);
        wipe(first);
        if (!sent) {
            co_await upstream_failure(
                make_error(std::string(kIoError), "the database server closed the connection"));
            co_return std::nullopt;
        }
        for (;;) {
            auto packet = co_await read_upstream();
            if (!packet) {
                co_await upstream_failure(packet.error());
                co_return std::nullopt;
            }
            UpstreamLogin::Step step = login.next(packet->payload);
            switch (step.kind) {
                case UpstreamLogin::Kind::Send: {
                    const bool ok = co_await send_upstream(step.payload);
                    wipe(step.payload);
                    if (!ok) {
                        co_await upstream_failure(make_error(
                            std::string(kIoError), "the database server closed the connection"));
                        co_return std::nullopt;
                    }
                    break;
                }
                case UpstreamLogin::Kind::Wait:
                    break;
                case UpstreamLogin::Kind::Ok:
                    co_return std::move(step.payload);
                case UpstreamLogin::Kind::Err: {
                    // E.g. a wrong real password or an unknown database. The server never saw
                    // the token and does not echo passwords; its code and state are kept.
                    auto err = parse_err(step.payload);
                    const std::string text = err ? err->message : std::string("malformed error");
                    const std::string message = "the database server refused the login of \"" +
                                                login.response().user + "\": " + text;
                    spdlog::warn("database \"{}\": {}", database.name, message);
                    // (Plain locals: GCC 12 mishandles temporaries of a conditional expression
                    // inside co_await arguments.)
                    std::uint16_t code = kErUnknown;
                    std::string sql_state = "HY000";
                    if (err) {
                        code = err->code;
                        if (!err->sql_state.empty()) sql_state = err->sql_state;
                    }
                    co_await refuse("error", code, sql_state, message);
                    co_return std::nullopt;
                }
                case UpstreamLogin::Kind::Fail:
                    co_await upstream_failure(make_error("mysql.upstream", step.error));
                    co_return std::nullopt;
            }
        }
    }

    // A failure talking to the database server: logged, and the client gets an ERR.
    net::awaitable<void> upstream_failure(const Error& error) {
        std::string message = "database \"" + s_.database->name + "\": " +
                              (error.code == kIoError ? io_reason(error.message) : error.message);
        spdlog::warn("{}", message);
        co_await refuse("error", kErUnknown, "HY000", std::move(message));
    }

    std::uint8_t client_seq_ = 0;
    std::uint8_t upstream_seq_ = 0;
};

}  // namespace

void start_mysql_key_generation() {
    static std::once_flag once;
    std::call_once(once, [] {
        net::co_spawn(
            key_pool(),
            []() -> net::awaitable<void> {
                const auto begin = std::chrono::steady_clock::now();
                auto key = process_rsa_key();
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - begin)
                                    .count();
                // Logged before any waiting session goes on (they wait on this thread).
                if (key) {
                    spdlog::info("mysql: RSA key for clients without TLS ready ({} bits, {} ms)",
                                 kProcessKeyBits, ms);
                } else {
                    spdlog::warn("mysql: cannot make the RSA key for clients without TLS: {}",
                                 key.error().message);
                }
                co_return;
            },
            net::detached);
    });
}

net::awaitable<void> run_mysql_session(Session session) {
    MysqlSession mysql(session);
    co_await mysql.run();
}

}  // namespace cloakroom::db
