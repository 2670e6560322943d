// One Redis client connection: optional TLS from the first byte, the login phase (AUTH / HELLO
// AUTH with the token as the password, everything else -NOAUTH), the upstream login with the
// real password, then a relay in which every client command passes the command filter and every
// reply the reply rewriter (filter.hpp explains how refusals keep their place in a pipeline).
// The wire logic lives in resp / handshake / filter / commands; this file sequences the I/O.
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "db/audit.hpp"
#include "db/login.hpp"
#include "db/redis/filter.hpp"
#include "db/redis/handshake.hpp"
#include "db/redis/resp.hpp"
#include "db/reply_secrets.hpp"
#include "db/session.hpp"
#include "db/session_frame.hpp"
#include "db/token_shape.hpp"
#include "db/upstream.hpp"
#include "runtime/two_way_pump.hpp"

namespace cloakroom::db {
namespace {

using namespace redis;

constexpr std::size_t kChunk = 32 * 1024;
constexpr std::size_t kMaxLoginReply = 1024 * 1024;  // HELLO's map is a few hundred bytes
constexpr int kMaxLoginFailures = 3;                 // then the connection is closed
// After a client's protocol error, how long the replies to its earlier commands may take before
// the connection is closed anyway (the error itself comes after them; see filter.hpp).
constexpr std::chrono::seconds kProtocolErrorGrace{5};

Refusal refusal_for(Denial kind) {
    switch (kind) {
        case Denial::BadToken:
        case Denial::UnknownLogin:
            return Refusal::WrongPass;
        case Denial::NotAllowed:
            return Refusal::NoPerm;
        case Denial::Unavailable:
        case Denial::Limited:
            return Refusal::Unavailable;
    }
    return Refusal::WrongPass;
}

void cleanse(std::string& text) {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
    text.clear();
}

struct RelayResult {
    std::uint64_t to_upstream = 0;
    std::uint64_t to_client = 0;
    std::string ended_by;
};

// The client's commands, through the command filter. A protocol error stops the session:
// reported in band (the reply rewriter puts the error where the bad command's reply would be,
// and the replies before it still arrive), or, when the bad bytes were partly forwarded, as the
// client's last words once the upstream is closed.
class ClientCommands final : public runtime::PumpFilter {
  public:
    explicit ClientCommands(CommandFilter& filter) : filter_(filter) {}
    runtime::PumpFilter::Verdict feed(std::string_view chunk, std::string& out) override {
        if (filter_.feed(chunk, out)) return runtime::PumpFilter::Verdict::Continue;
        spdlog::debug("redis client protocol error: {}", filter_.error());
        return runtime::PumpFilter::Verdict::Stop;
    }
    std::string stop_reason() const override { return "client protocol error: " + filter_.error(); }
    bool lets_other_direction_finish() const override { return filter_.error_in_band(); }
    std::string last_words() override {
        return filter_.error_in_band() ? std::string() : error_reply("ERR " + filter_.error());
    }

  private:
    CommandFilter& filter_;
};

// The server's replies, through the rewriter (refusals in place, secrets redacted). The first
// chunk is the login's answer (and what followed it), which no command of the filter's asked
// for: it passes unchanged.
class ServerReplies final : public runtime::PumpFilter {
  public:
    ServerReplies(ReplyRewriter& rewriter, const std::string& database, const std::string& client)
        : rewriter_(rewriter), database_(database), client_(client) {}
    runtime::PumpFilter::Verdict feed(std::string_view chunk, std::string& out) override {
        if (first_) {
            first_ = false;
            out.append(chunk);
            return runtime::PumpFilter::Verdict::Continue;
        }
        rewriter_.feed(chunk, out);
        if (rewriter_.closing())
            return runtime::PumpFilter::Verdict::Stop;  // the client has its protocol error
        if (rewriter_.lost_framing()) {
            // Neither refusals nor secrets can be found in what follows: end here.
            spdlog::warn(
                "database \"{}\": {}: the server's replies are no RESP Cloakroom can follow; "
                "session closed",
                database_, client_);
            return runtime::PumpFilter::Verdict::Stop;
        }
        return runtime::PumpFilter::Verdict::Continue;
    }
    std::string stop_reason() const override {
        return rewriter_.lost_framing() ? "upstream reply framing lost" : "client protocol error";
    }

  private:
    ReplyRewriter& rewriter_;
    const std::string& database_;
    const std::string& client_;
    bool first_ = true;
};

class RedisSession : private SessionFrame {
  public:
    explicit RedisSession(Session& session) : SessionFrame(session, "redis") {}

    net::awaitable<void> run() {
        auto executor = co_await net::this_coro::executor;
        start_login_deadline(executor);
        co_await login_and_relay();
        finish();
    }

  private:
    // Best effort: the client may be gone.
    net::awaitable<void> send(std::string_view bytes) {
        boost::system::error_code ec;
        co_await s_.client.write_all(bytes, ec);
    }

    // TLS from the first byte: a TLS ClientHello starts with 0x16, a Redis command never does.
    net::awaitable<bool> client_tls() {
        const config::Database& database = *s_.database;
        unsigned char first = 0;
        boost::system::error_code ec;
        co_await s_.client.socket().async_receive(net::buffer(&first, 1), tcp::socket::message_peek,
                                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            record("error", io_reason("the client closed the connection before logging in"));
            co_return false;
        }
        const bool hello = first == 0x16;
        if (hello &&
            (database.client_tls == config::ClientTlsMode::Off || !s_.services->client_tls)) {
            record("deny", "the client started TLS, but client_tls = \"off\" for this database");
            co_return false;
        }
        if (!hello) {
            if (database.client_tls == config::ClientTlsMode::Required) {
                co_await send(error_reply(
                    "ERR Cloakroom: this port requires TLS (for example redis-cli --tls --cacert "
                    "<Cloakroom's CA certificate>)"));
                record("deny", "plaintext connection refused: client_tls = \"required\"");
                co_return false;
            }
            co_return true;
        }
        auto accepted = co_await s_.client.accept_tls(*s_.services->client_tls);
        if (!accepted) {
            record("error", io_reason(accepted.error().message));
            co_return false;
        }
        co_return true;
    }

    net::awaitable<Result<void>> connect_upstream() {
        const config::Database& database = *s_.database;
        auto dialed = co_await dial_database(database, s_.services->timeouts.connect);
        if (!dialed) co_return dialed.error();
        upstream_.emplace(std::move(*dialed));
        deadline_->watch(*upstream_);
        if (database.tls == config::DatabaseTlsMode::Disable) co_return Result<void>{};
        const auto context = s_.runtime->database_tls.find(database.name);
        if (context == s_.runtime->database_tls.end() || !context->second) {
            co_return make_error("db.tls", "no TLS context for database \"" + database.name + "\"");
        }
        co_return co_await upstream_->connect_tls(*context->second, database);
    }

    net::awaitable<void> login_and_relay() {
        if (!co_await client_tls()) co_return;
        const config::Database& database = *s_.database;
        std::vector<std::string> login_names;
        for (const auto& login : database.logins) login_names.push_back(login.name);

        // ---- before login: one command at a time, small limits ----
        std::string buffer;
        std::vector<char> chunk(kChunk);
        std::optional<AuthRequest> request;
        std::optional<LoginGranted> granted;
        int failures = 0;
        boost::system::error_code ec;
        while (!granted) {
            ParsedCommand parsed = parse_command(buffer, kPreAuthLimits);
            if (parsed.status == ParseStatus::Invalid) {
                co_await send(error_reply("ERR " + parsed.error));
                if (failures == 0) {
                    record("error",
                           "the client broke the protocol before logging in: " + parsed.error);
                }
                co_return;
            }
            if (parsed.status == ParseStatus::Incomplete) {
                std::size_t n = co_await s_.client.read_some(net::buffer(chunk), ec);
                if (ec || n == 0) {
                    // After a denial the record keeps the denial's reason.
                    if (failures == 0) {
                        record("error",
                               io_reason("the client closed the connection before logging in"));
                    }
                    co_return;
                }
                buffer.append(chunk.data(), n);
                // An inline command is complete only with a newline: no re-parse before one
                // arrives (a client trickling bytes must not cost a scan of the line each time).
                while (buffer.front() != '*' && buffer.size() <= kPreAuthLimits.max_inline &&
                       std::string_view(chunk.data(), n).find('\n') == std::string_view::npos) {
                    n = co_await s_.client.read_some(net::buffer(chunk), ec);
                    if (ec || n == 0) break;
                    buffer.append(chunk.data(), n);
                }
                continue;
            }
            buffer.erase(0, parsed.consumed);
            if (parsed.args.empty()) continue;
            PreAuthStep step = interpret_pre_auth(parsed.args);
            for (auto& arg : parsed.args) cleanse(arg);
            if (auto* reply = std::get_if<PreAuthReply>(&step)) {
                co_await send(reply->bytes);
                if (reply->close) {
                    if (failures == 0) record("error", "the client quit before logging in");
                    co_return;
                }
                continue;
            }
            request = std::move(std::get<AuthRequest>(step));
            if (!request->login) {
                request->login = implicit_login(login_names);
                if (!request->login) {
                    co_await send(no_implicit_login_reply(login_names));
                    cleanse(request->token);
                    continue;
                }
            }
            audit_.login = shown_name(*request->login, s_.runtime->config.token.prefix);
            const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            LoginDecision decision = authorize_login(
                *s_.runtime, database, LoginRequest{*request->login, "", request->token, now});
            cleanse(request->token);
            if (auto* denied = std::get_if<LoginDenied>(&decision)) {
                audit_.token_id = denied->token_id;
                record("deny", denied->message);
                co_await send(denial_reply(refusal_for(denied->kind), denied->message));
                if (++failures >= kMaxLoginFailures) co_return;
                continue;
            }
            granted = std::move(std::get<LoginGranted>(decision));
        }
        audit_.token_id = granted->token_id;
        register_live(granted->token_id, granted->minted);
        exchange_.hold(std::move(granted->permit));

        // ---- upstream: dial, TLS per the database's mode, log in with the real password ----
        auto connected = co_await connect_upstream();
        if (!connected) {
            const std::string message = "cannot reach the database: " + connected.error().message;
            spdlog::warn("database \"{}\": {}", database.name, message);
            co_await send(error_reply("ERR Cloakroom: " + message));
            record("error", io_reason(message));
            co_return;
        }
        std::optional<std::string_view> password;
        if (granted->password) password = granted->password->reveal();
        SessionSecrets session_secrets;
        if (password) session_secrets.add_password(*password);
        std::string login_command = upstream_login_command(
            granted->login->user, password, request->hello_version, request->client_name);
        std::string first_reply = "+OK\r\n";  // AUTH's answer when nothing needs sending
        std::string upstream_extra;
        if (!login_command.empty()) {
            co_await upstream_->write_all(login_command, ec);
            cleanse(login_command);
            std::string replies;
            ReplyFrame frame;
            while (!ec) {
                frame = frame_reply(replies);
                if (frame.status != ParseStatus::Incomplete || replies.size() > kMaxLoginReply)
                    break;
                const std::size_t n = co_await upstream_->read_some(net::buffer(chunk), ec);
                if (!ec) replies.append(chunk.data(), n);
            }
            if (ec || frame.status != ParseStatus::Complete) {
                const std::string message =
                    ec ? io_reason("the database closed the connection during login")
                       : "the database answered the login with something that is no Redis reply";
                spdlog::warn("database \"{}\": {}", database.name, message);
                co_await send(error_reply("ERR Cloakroom: " + message));
                record("error", message);
                co_return;
            }
            const std::string_view reply = std::string_view(replies).substr(0, frame.size);
            if (frame.type == '-' || frame.type == '!') {
                const std::string text = reply_error_text(reply);
                std::vector<std::string_view> secrets;
                if (password) secrets.push_back(*password);
                const std::string client_reply =
                    upstream_failure_reply(text, *request->login, secrets);
                // The log and audit get the error code only (the text could quote arguments).
                const std::string code = text.substr(0, text.find(' ')).substr(0, 32);
                spdlog::warn(
                    "database \"{}\": the database refused the login of \"{}\" as user "
                    "\"{}\" ({})",
                    database.name, *request->login, granted->login->user, code);
                co_await send(client_reply);
                record("error", "the database refused the login (" + code + ")");
                co_return;
            }
            if (request->hello_version != 0) first_reply = std::string(reply);
            upstream_extra = replies.substr(frame.size);
        }

        // ---- relay ----
        deadline_.reset();  // the login is done; connections idle legitimately
        spdlog::debug("database \"{}\": {} logged in as {}, token {}", database.name, audit_.client,
                      granted->login->name, audit_.token_id);
        CommandPolicy policy(granted->command_lists);
        auto relaying = relay_session(std::move(policy), std::move(buffer),
                                      first_reply + upstream_extra, session_secrets.needles());
        auto placed = relay_placed(std::move(relaying));
        RelayResult result = co_await std::move(placed);
        audit_.bytes_in = result.to_upstream;
        audit_.bytes_out = result.to_client;
        record("allow", "ended by " + result.ended_by + refusal_summary_);
    }

    // Both directions through the one pump: client -> command filter -> upstream, upstream ->
    // reply rewriter -> client. After a client protocol error the replies before it, then the
    // error, still reach the client (for an error in the middle of a command already partly
    // forwarded, the upstream is closed and the error follows what it had sent).
    net::awaitable<RelayResult> relay_session(CommandPolicy policy, std::string client_pending,
                                              std::string client_first,
                                              std::vector<std::string_view> secrets) {
        CommandFilter filter(std::move(policy));
        ReplyRewriter rewriter(std::move(secrets));
        ClientCommands commands(filter);
        ServerReplies replies(rewriter, s_.database->name, audit_.client);
        runtime::PumpOptions options;
        options.pending_a_to_b = std::move(client_pending);
        options.pending_b_to_a = std::move(client_first);
        options.a_to_b = &commands;
        options.b_to_a = &replies;
        options.grace = kProtocolErrorGrace;
        const runtime::PumpResult pumped =
            co_await runtime::pump_both_ways(s_.client, *upstream_, std::move(options));
        RelayResult result;
        result.to_upstream = pumped.a_to_b;
        result.to_client = pumped.b_to_a;
        result.ended_by = pumped.ended_by;
        if (filter.refused() > 0) {
            std::string names;
            for (const auto& name : filter.refused_names())
                names += (names.empty() ? "" : ", ") + name;
            refusal_summary_ = "; refused " + std::to_string(filter.refused()) + " of " +
                               std::to_string(filter.commands()) + " commands (" + names + ")";
        }
        if (rewriter.redactions() > 0) {
            refusal_summary_ +=
                "; redacted " + std::to_string(rewriter.redactions()) + " secrets in replies";
        }
        co_return result;
    }

    std::string refusal_summary_;
};

}  // namespace

net::awaitable<void> run_redis_session(Session session) {
    RedisSession redis(session);
    co_await redis.run();
}

}  // namespace cloakroom::db
