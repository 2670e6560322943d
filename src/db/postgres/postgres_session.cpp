// One PostgreSQL client connection: startup negotiation (SSLRequest, GSSENCRequest,
// CancelRequest), the token as a cleartext password, the upstream login with the real password
// (pg_upstream_auth), then a byte relay. The wire formats live in pg_protocol; this file only
// sequences them over the streams, under one deadline for the whole login phase.
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "db/audit.hpp"
#include "db/login.hpp"
#include "db/postgres/pg_protocol.hpp"
#include "db/postgres/pg_relay_filters.hpp"
#include "db/postgres/pg_scram.hpp"
#include "db/postgres/pg_upstream_auth.hpp"
#include "db/relay.hpp"
#include "db/reply_secrets.hpp"
#include "db/session.hpp"
#include "db/session_frame.hpp"
#include "db/token_shape.hpp"
#include "db/upstream.hpp"
#include "tls/openssl_ptr.hpp"

namespace cloakroom::db {
namespace {

using namespace postgres;

constexpr std::size_t kMaxPasswordMessage = 16 * 1024;  // a token with many caveats fits
constexpr std::size_t kMaxLoginMessage = 256 * 1024;    // server messages before ReadyForQuery
constexpr std::size_t kMaxLoginOutput = 1024 * 1024;    // all of them together

// I/O failures: the peer is gone (or the deadline closed the streams), nothing can be sent.
constexpr std::string_view kIoError = "pg.io";

std::string prefixed(std::string_view message) {
    return "cloakroom: " + std::string(message);
}

std::string_view denial_sqlstate(Denial kind) {
    switch (kind) {
        case Denial::BadToken:
        case Denial::UnknownLogin:
            return "28P01";  // invalid_password
        case Denial::NotAllowed:
            return "28000";  // invalid_authorization_specification
        case Denial::Unavailable:
            return "08006";  // connection_failure: the operator's problem, not the token's
        case Denial::Limited:
            return "53300";  // too_many_connections
    }
    return "28000";
}

struct Message {
    char type = 0;
    std::string raw;  // header + body

    std::string_view body() const { return std::string_view(raw).substr(kMessageHeaderSize); }
};

// Removes the session's cancel keys from the registry however the session ends.
struct CancelKeys {
    CancelRegistry& registry;
    std::vector<CancelRequest> keys;
    ~CancelKeys() {
        for (const auto& key : keys) registry.remove(key.pid, key.secret);
    }
};

class PgSession : private SessionFrame {
  public:
    explicit PgSession(Session& session)
        : SessionFrame(session, "postgres"), cancels_{session.services->cancels, {}} {}

    net::awaitable<void> run() {
        auto executor = co_await net::this_coro::executor;
        start_login_deadline(executor);
        co_await login_and_relay();
        finish();
    }

  private:
    // ---- outcome helpers ----

    // Tells the client (best effort) and records the outcome.
    net::awaitable<void> refuse(std::string_view decision, std::string_view sqlstate,
                                std::string message) {
        boost::system::error_code ec;
        co_await s_.client.write_all(build_error_response(sqlstate, prefixed(message)), ec);
        record(decision, std::move(message));
    }

    net::awaitable<void> fail(const Error& error) {
        if (error.code == kIoError) {
            record("error", io_reason(error.message));
            co_return;
        }
        co_await refuse("error", sqlstate_for(error), error.message);
    }

    // ---- reading ----

    net::awaitable<Result<StartupPacket>> read_startup() {
        boost::system::error_code ec;
        std::string head;
        co_await s_.client.read_exact(head, 4, ec);
        if (ec) {
            co_return make_error(std::string(kIoError),
                                 "the client closed the connection before its startup message");
        }
        auto length = parse_startup_length(head);
        if (!length) co_return length.error();
        std::string packet;
        co_await s_.client.read_exact(packet, *length - 4, ec);
        if (ec) co_return make_error(std::string(kIoError), "startup packet is truncated");
        co_return parse_startup_packet(packet);
    }

    net::awaitable<Result<Message>> read_message(DbStream& stream, std::size_t max_body,
                                                 std::string_view what) {
        boost::system::error_code ec;
        Message message;
        co_await stream.read_exact(message.raw, kMessageHeaderSize, ec);
        if (ec) {
            co_return make_error(std::string(kIoError),
                                 std::string(what) + " closed the connection during login");
        }
        auto header = parse_message_header(message.raw, max_body, what);
        if (!header) co_return header.error();
        co_await stream.read_exact(message.raw, header->body_size, ec);
        if (ec) {
            co_return make_error(std::string(kIoError),
                                 std::string(what) + " closed the connection during login");
        }
        message.type = header->type;
        co_return message;
    }

    // ---- phases ----

    net::awaitable<void> login_and_relay() {
        const config::Database& database = *s_.database;
        bool tls_answered = false;
        bool gss_answered = false;
        std::optional<StartupMessage> startup_message;
        while (!startup_message) {
            auto packet = co_await read_startup();
            if (!packet) {
                co_await fail(packet.error());
                co_return;
            }
            if (std::holds_alternative<SslRequest>(*packet)) {
                if (tls_answered) {
                    co_await fail(make_error(std::string(kProtocolError), "SSLRequest sent twice"));
                    co_return;
                }
                tls_answered = true;
                const bool offer = database.client_tls != config::ClientTlsMode::Off &&
                                   s_.services->client_tls != nullptr;
                boost::system::error_code ec;
                co_await s_.client.write_all(offer ? "S" : "N", ec);
                if (ec) {
                    record("error", io_reason("the client closed the connection"));
                    co_return;
                }
                if (offer) {
                    auto accepted = co_await s_.client.accept_tls(*s_.services->client_tls);
                    if (!accepted) {
                        record("error", io_reason(accepted.error().message));
                        co_return;
                    }
                }
            } else if (std::holds_alternative<GssEncRequest>(*packet)) {
                if (gss_answered || s_.client.is_tls()) {
                    co_await fail(
                        make_error(std::string(kProtocolError), "unexpected GSSENCRequest"));
                    co_return;
                }
                gss_answered = true;
                boost::system::error_code ec;
                co_await s_.client.write_all("N", ec);
                if (ec) {
                    record("error", io_reason("the client closed the connection"));
                    co_return;
                }
            } else if (const auto* cancel = std::get_if<CancelRequest>(&*packet)) {
                co_await forward_cancel(*cancel);
                co_return;
            } else {
                startup_message = std::move(std::get<StartupMessage>(*packet));
            }
        }

        auto startup = interpret_startup(*startup_message);
        if (!startup) {
            co_await fail(startup.error());
            co_return;
        }
        audit_.login = shown_name(startup->user, s_.runtime->config.token.prefix);
        audit_.db_name = shown_name(startup->database, s_.runtime->config.token.prefix);
        if (database.client_tls == config::ClientTlsMode::Required && !s_.client.is_tls()) {
            co_await refuse("deny", "28000", "this listener requires TLS (sslmode=require)");
            co_return;
        }

        // Ask for the token as a cleartext password.
        std::string greeting;
        if (startup->negotiate) {
            greeting = build_negotiate_protocol_version(0, startup->unrecognized_options);
        }
        greeting += build_authentication(kAuthCleartextPassword);
        boost::system::error_code ec;
        co_await s_.client.write_all(greeting, ec);
        if (ec) {
            record("error", io_reason("the client closed the connection"));
            co_return;
        }
        auto password = co_await read_message(s_.client, kMaxPasswordMessage, "client");
        if (!password) {
            if (password.error().code == kIoError) {
                // psql does this when it has no password yet: it asks the user, then reconnects.
                record("error", io_reason("the client closed the connection without sending a "
                                          "password"));
                co_return;
            }
            co_await fail(password.error());
            co_return;
        }
        if (password->type == 'X') {
            record("error", "the client ended the connection without sending a password");
            co_return;
        }
        if (password->type != 'p') {
            co_await fail(make_error(
                std::string(kProtocolError),
                "expected a password message, got message " + describe_type(password->type)));
            co_return;
        }
        auto token = parse_password_message(password->body());
        if (!token) {
            OPENSSL_cleanse(password->raw.data(), password->raw.size());
            co_await fail(token.error());
            co_return;
        }
        const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
        LoginDecision decision =
            authorize_login(*s_.runtime, database,
                            LoginRequest{startup->user, startup->database, *token, now_unix});
        OPENSSL_cleanse(password->raw.data(), password->raw.size());
        if (auto* denied = std::get_if<LoginDenied>(&decision)) {
            audit_.token_id = denied->token_id;
            co_await refuse("deny", denial_sqlstate(denied->kind), denied->message);
            co_return;
        }
        auto& granted = std::get<LoginGranted>(decision);
        audit_.token_id = granted.token_id;
        register_live(granted.token_id, granted.minted);
        exchange_.hold(std::move(granted.permit));

        auto upstream_ok = co_await connect_upstream();
        if (!upstream_ok) {
            spdlog::warn("database \"{}\": {}", database.name, upstream_ok.error().message);
            co_await refuse("error", "08006", upstream_ok.error().message);
            co_return;
        }

        std::vector<std::pair<std::string, std::string>> params;
        params.emplace_back("user", granted.login->user);
        params.emplace_back("database", startup->database);
        for (const auto& param : startup->forward) params.push_back(param);
        co_await upstream_->write_all(build_startup_message(params), ec);
        if (ec) {
            co_await refuse("error", "08006",
                            io_reason("the database server closed the connection"));
            co_return;
        }

        std::optional<std::string> channel_binding;
        if (SSL* ssl = upstream_->ssl_handle()) {
            tls::X509Ptr certificate(SSL_get1_peer_certificate(ssl));
            auto binding = tls_server_end_point(certificate.get());
            if (binding) channel_binding = std::move(*binding);
        }
        std::optional<std::string_view> secret;
        if (granted.password) secret = granted.password->reveal();
        SessionSecrets secrets;
        if (secret) secrets.add_password(*secret);
        // Holds (and wipes) its own copy of the password; gone before the relay starts.
        std::optional<UpstreamAuth> auth_holder;
        auth_holder.emplace(UpstreamAuthOptions{granted.login->user, secret, upstream_->is_tls(),
                                                std::move(channel_binding), ""});
        granted.password.reset();
        UpstreamAuth& auth = *auth_holder;

        // Upstream authentication, then everything up to ReadyForQuery.
        std::string to_client;  // NoticeResponses during authentication, passed on afterwards
        while (!auth.authenticated()) {
            auto message = co_await read_message(*upstream_, kMaxLoginMessage, "database server");
            if (!message) {
                co_await upstream_failure(message.error());
                co_return;
            }
            if (message->type == 'R') {
                auto request = parse_authentication(message->body());
                if (!request) {
                    co_await upstream_failure(request.error());
                    co_return;
                }
                auto reply = auth.on_request(*request);
                if (!reply) {
                    co_await upstream_failure(reply.error());
                    co_return;
                }
                if (!reply->empty()) {
                    co_await upstream_->write_all(*reply, ec);
                    OPENSSL_cleanse(reply->data(), reply->size());
                    if (ec) {
                        co_await upstream_failure(make_error(
                            std::string(kIoError), "the database server closed the connection"));
                        co_return;
                    }
                }
            } else if (message->type == 'E') {
                co_await upstream_error(message->body(),
                                        "refused the login of \"" + granted.login->user + "\"");
                co_return;
            } else if (message->type == 'N') {
                if (to_client.size() + message->raw.size() > kMaxLoginOutput) {
                    co_await upstream_failure(
                        make_error(std::string(kProtocolError), "too many notices during login"));
                    co_return;
                }
                to_client += message->raw;
            } else if (message->type == 'v') {
                // NegotiateProtocolVersion: we asked for plain 3.0, nothing to adjust.
                auto parsed = parse_negotiate_protocol_version(message->body());
                if (!parsed) {
                    co_await upstream_failure(parsed.error());
                    co_return;
                }
            } else {
                co_await upstream_failure(make_error(
                    std::string(kProtocolError),
                    "unexpected message " + describe_type(message->type) + " during login"));
                co_return;
            }
        }

        const std::string method(auth.method());
        auth_holder.reset();

        // The client's login succeeds now; the server's startup messages follow.
        to_client.insert(0, build_authentication(kAuthOk));
        for (;;) {
            auto message = co_await read_message(*upstream_, kMaxLoginMessage, "database server");
            if (!message) {
                co_await upstream_failure(message.error());
                co_return;
            }
            if (message->type == 'E') {
                // E.g. the database does not exist (checked after authentication). The client
                // gets the server's own error.
                auto fields = parse_error_fields(message->body());
                to_client += message->raw;
                co_await s_.client.write_all(to_client, ec);
                record("error", "the database server refused the session: " +
                                    (fields ? std::string(fields->get('C')) + " " +
                                                  std::string(fields->get('M'))
                                            : std::string("malformed ErrorResponse")));
                co_return;
            }
            if (message->type == 'K') {
                auto key = parse_backend_key_data(message->body());
                if (!key) {
                    co_await upstream_failure(key.error());
                    co_return;
                }
                s_.services->cancels.add(key->pid, key->secret);
                cancels_.keys.push_back(*key);
            }
            if (to_client.size() + message->raw.size() > kMaxLoginOutput) {
                co_await upstream_failure(make_error(
                    std::string(kProtocolError), "more than " + std::to_string(kMaxLoginOutput) +
                                                     " bytes before ReadyForQuery"));
                co_return;
            }
            to_client += message->raw;
            if (message->type == 'Z') break;
        }
        ReplyGuard replies(secrets.needles());
        std::string first;
        (void)replies.feed(to_client, first);
        co_await s_.client.write_all(first, ec);
        if (ec) {
            record("error", io_reason("the client closed the connection"));
            co_return;
        }

        deadline_.reset();  // the login is done; databases idle legitimately
        spdlog::debug("database \"{}\": {} logged in as {} ({}), token {}", database.name,
                      audit_.client, granted.login->name, method, audit_.token_id);
        ClientGuard messages;
        RelayFilters filters;
        filters.client = [&messages](std::string_view chunk, std::string& out) {
            return messages.feed(chunk, out);
        };
        filters.server = [&replies](std::string_view chunk, std::string& out) {
            return replies.feed(chunk, out);
        };
        filters.client_last_words = [&messages, &replies]() {
            // Only between the server's messages; otherwise the closed connection says enough.
            if (!replies.at_boundary()) return std::string();
            return build_error_response("08P01", prefixed(messages.error()));
        };
        static constexpr char kTerminate[] = {'X', 0, 0, 0, 4};
        auto relaying = relay(s_.client, *upstream_, std::string(), std::string(),
                              std::move(filters), std::string_view(kTerminate, sizeof kTerminate));
        auto placed = relay_placed(std::move(relaying));
        const RelayStats stats = co_await std::move(placed);
        audit_.bytes_in = stats.client_to_upstream;
        audit_.bytes_out = stats.upstream_to_client;
        std::string reason = "upstream login " + method + "; ended by " + stats.ended_by;
        if (!messages.error().empty()) {
            reason += ": " + messages.error();
            spdlog::info("database \"{}\": {}: {}, token {}", database.name, audit_.client,
                         messages.error(), audit_.token_id);
        }
        if (replies.redactions() > 0) {
            reason += "; redacted " + std::to_string(replies.redactions()) + " secrets in replies";
        }
        record("allow", reason);
    }

    // Dial, and TLS per the database's mode: SSLRequest first, and never a plaintext fallback.
    net::awaitable<Result<void>> connect_upstream() {
        const config::Database& database = *s_.database;
        auto dialed = co_await dial_database(database, s_.services->timeouts.connect);
        if (!dialed) co_return dialed.error();
        upstream_.emplace(std::move(*dialed));
        deadline_->watch(*upstream_);
        if (database.tls == config::DatabaseTlsMode::Disable) co_return Result<void>{};

        boost::system::error_code ec;
        co_await upstream_->write_all(build_ssl_request(), ec);
        std::string answer;
        if (!ec) co_await upstream_->read_exact(answer, 1, ec);
        if (ec) {
            co_return make_error("db.tls", io_reason("database server " + database.upstream +
                                                     " closed the connection at SSLRequest"));
        }
        if (answer[0] != 'S') {
            co_return make_error(
                "db.tls", "database server " + database.upstream + " does not accept TLS (it " +
                              (answer[0] == 'N' ? std::string("answered 'N' to SSLRequest")
                                                : "sent " + describe_type(answer[0])) +
                              "), but tls = \"" + std::string(config::to_string(database.tls)) +
                              "\" is configured; Cloakroom never falls back to plaintext");
        }
        const auto context = s_.runtime->database_tls.find(database.name);
        if (context == s_.runtime->database_tls.end() || !context->second) {
            co_return make_error("db.tls", "no TLS context for database \"" + database.name + "\"");
        }
        co_return co_await upstream_->connect_tls(*context->second, database);
    }

    // A failure talking to the database server: the client gets 08006 (or the parser's code).
    net::awaitable<void> upstream_failure(const Error& error) {
        std::string message = "database \"" + s_.database->name + "\": " +
                              (error.code == kIoError ? io_reason(error.message) : error.message);
        spdlog::warn("{}", message);
        const std::string_view sqlstate =
            error.code == kProtocolError ? std::string_view("08P01") : std::string_view("08006");
        co_await refuse("error", sqlstate, std::move(message));
    }

    // The server's ErrorResponse during login, passed on with its SQLSTATE and message (it never
    // saw the token, and servers do not echo passwords).
    net::awaitable<void> upstream_error(std::string_view body, const std::string& what) {
        auto fields = parse_error_fields(body);
        if (!fields) {
            co_await upstream_failure(fields.error());
            co_return;
        }
        std::string sqlstate(fields->get('C'));
        if (sqlstate.size() != 5) sqlstate = "08006";
        const std::string message =
            "the database server " + what + ": " + std::string(fields->get('M')).substr(0, 1000);
        spdlog::warn("database \"{}\": {} ({})", s_.database->name, message, sqlstate);
        co_await refuse("error", sqlstate, message);
    }

    net::awaitable<void> forward_cancel(const CancelRequest& cancel) {
        audit_.decision = "cancel";
        if (!s_.services->cancels.contains(cancel.pid, cancel.secret)) {
            // PostgreSQL answers nothing either way; an unknown key never reaches the server.
            audit_.reason = "unknown cancel key; dropped";
            co_return;
        }
        auto connected = co_await connect_upstream();
        if (!connected) {
            spdlog::warn("database \"{}\": cannot forward a cancel request: {}", s_.database->name,
                         connected.error().message);
            record("cancel", "not forwarded: " + connected.error().message);
            co_return;
        }
        boost::system::error_code ec;
        co_await upstream_->write_all(build_cancel_request(cancel), ec);
        if (ec) {
            record("cancel", "not forwarded: " + io_reason(ec.message()));
            co_return;
        }
        // The server closes the connection once it has read the request.
        char byte = 0;
        (void)co_await upstream_->read_some(net::buffer(&byte, 1), ec);
        record("cancel", "forwarded to the database server");
    }

    CancelKeys cancels_;
};

}  // namespace

net::awaitable<void> run_postgres_session(Session session) {
    PgSession pg(session);
    co_await pg.run();
}

}  // namespace cloakroom::db
