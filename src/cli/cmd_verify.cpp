// `cloakroom verify`: would the gateway let this token make this request (or this database
// login)? Exit 0 = allowed, 1 = denied (reason on stderr), 2 = usage error.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "config/authority.hpp"
#include "proxy/route.hpp"
#include "runtime/revocation_store.hpp"
#include "token/host_caveat.hpp"
#include "util/time_parse.hpp"

namespace cloakroom::cli {
namespace {

struct VerifyOptions {
    std::string token;
    std::string host;
    std::string method;
    std::string path;
    std::string db;
    std::string db_login;
    std::string db_name;
    std::string db_protocol;
    std::string at;
    // Which flags were given (an empty value is given, and fails the access stage instead).
    std::vector<CLI::Option*> http_flags;      // --host, --method, --path
    std::vector<CLI::Option*> db_flags;        // --db, --db-login, --db-name, --db-protocol
    std::vector<CLI::Option*> db_login_flags;  // --db, --db-login
};

bool any_given(const std::vector<CLI::Option*>& flags) {
    return std::any_of(flags.begin(), flags.end(), [](auto* f) { return f->count() > 0; });
}

bool all_given(const std::vector<CLI::Option*>& flags) {
    return std::all_of(flags.begin(), flags.end(), [](auto* f) { return f->count() > 0; });
}

std::string_view protocol_name(config::DatabaseProtocol protocol) {
    switch (protocol) {
        case config::DatabaseProtocol::Postgres:
            return "postgres";
        case config::DatabaseProtocol::Mysql:
            return "mysql";
        case config::DatabaseProtocol::Redis:
            return "redis";
    }
    return "";
}

// --db-protocol, else the protocol of the configured [[database]] of that name.
Result<std::string> db_protocol(const config::Config& config, const VerifyOptions& options) {
    if (!options.db_protocol.empty()) return options.db_protocol;
    for (const auto& database : config.databases) {
        if (database.name == options.db) return std::string(protocol_name(database.protocol));
    }
    return make_error("usage", "no [[database]] named '" + options.db +
                                   "' in the configuration; give --db-protocol "
                                   "(postgres, mysql or redis)");
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
    return out;
}

// --host as the gateway would route it: "api.example.com" is https on port 443, as a CONNECT
// would name it; the configuration's routing decides whether that port is a service keyed by
// "host:port" (token/host_caveat.hpp). Left as given when it is not a host[:port].
void route_host(const config::Config& config, token::AccessRequest& request) {
    token::ParsedHost parsed;
    if (!token::parse_host_port(request.host, parsed)) return;
    const std::uint16_t port = parsed.port != 0 ? parsed.port : 443;
    const proxy::Route route =
        proxy::route_connect(config, config::Authority{parsed.host, port}.text());
    const token::RoutedHost routed = route.kind == proxy::RouteKind::Intercept
                                         ? route.token_host()
                                         : token::RoutedHost{parsed.host, port, false};
    request.host = routed.host;
    request.port = routed.port;
    request.port_keyed = routed.port_keyed;
}

int denied(const token::VerifyOutcome& outcome) {
    std::fprintf(stderr, "denied (%s): %s\n", std::string(token::stage_name(outcome.stage)).c_str(),
                 outcome.reason.c_str());
    return kExitFailure;
}

// What the gateway adds to the signature and the caveats: the revocations recorded in the data
// directory (runtime/revocation_store.hpp). A genuine token that is revoked is denied whatever
// its caveats say, as by the gateway's access decision. An unreadable revocation file is an
// error: "allowed" must not be printed for a token that may be revoked.
std::optional<int> revoked(const config::Config& config, const token::VerifyOutcome& outcome) {
    if (outcome.stage != token::Stage::Ok && outcome.stage != token::Stage::Caveats) {
        return std::nullopt;
    }
    auto list = runtime::load_revocations(runtime::revocations_path(config.data_dir));
    if (!list.ok()) return fail("verify", list.error(), kExitFailure);
    const runtime::RevocationRecord* record =
        list->find(outcome.token_id, runtime::mint_time(outcome.caveats));
    if (record == nullptr) return std::nullopt;
    std::string why = record->before ? "every token minted before " +
                                           format_time_utc(*record->before) + " was revoked"
                                     : "this token was revoked";
    why += " at " + format_time_utc(record->revoked_at);
    if (!record->reason.empty()) why += " (" + record->reason + ")";
    std::fprintf(stderr, "denied (revoked): %s\n", why.c_str());
    return kExitFailure;
}

int run_verify(const GlobalOptions& global, const VerifyOptions& options) {
    const bool database = any_given(options.db_flags);
    if (!all_given(database ? options.db_login_flags : options.http_flags)) {
        return fail("verify",
                    make_error("usage",
                               "give --host, --method and --path (an HTTP request), or --db and "
                               "--db-login (a database login)"),
                    kExitUsage);
    }
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("verify", config.error(), kExitUsage);
    auto text = read_token_argument(options.token);
    if (!text.ok()) return fail("verify", text.error(), kExitUsage);
    std::int64_t at = std::time(nullptr);
    if (!options.at.empty()) {
        auto parsed = parse_time(options.at);
        if (!parsed.ok()) return fail("verify", parsed.error(), kExitUsage);
        at = *parsed;
    }
    std::string protocol;
    if (database) {
        auto found = db_protocol(*config, options);
        if (!found.ok()) return fail("verify", found.error(), kExitUsage);
        protocol = std::move(*found);
    }
    auto keys = load_keys(*config, KeyPolicy::VerifyOnly);
    if (!keys.ok()) return fail("verify", keys.error(), kExitFailure);

    if (database) {
        token::DbAccessRequest request{options.db, options.db_login, options.db_name, protocol, at};
        const auto outcome = token::verify_token(*text, request, *keys, token_format(*config));
        if (auto refused = revoked(*config, outcome)) return *refused;
        if (!outcome.ok()) return denied(outcome);
        std::printf("allowed: token %s may log in to %s (%s) as %s%s\n", outcome.token_id.c_str(),
                    options.db.c_str(), protocol.c_str(), options.db_login.c_str(),
                    options.db_name.empty() ? "" : (", database " + options.db_name).c_str());
        // Redis: the session checks every command against each of these lists.
        for (const auto& commands : token::command_lists(outcome.caveats)) {
            std::printf("  commands limited to: %s\n",
                        commands.empty() ? "(none)" : join(commands).c_str());
        }
        return kExitOk;
    }

    token::AccessRequest request{options.host, options.method, options.path, at};
    route_host(*config, request);
    const auto outcome = token::verify_token(*text, request, *keys, token_format(*config));
    if (auto refused = revoked(*config, outcome)) return *refused;
    if (!outcome.ok()) return denied(outcome);
    std::printf("allowed: token %s may %s %s%s\n", outcome.token_id.c_str(), options.method.c_str(),
                options.host.c_str(), options.path.c_str());
    return kExitOk;
}

}  // namespace

void register_verify(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<VerifyOptions>();
    auto* command = app.add_subcommand(
        "verify",
        "Check a token against a request (--host --method --path) or a database login (--db "
        "--db-login [--db-name]): exit 0 if allowed, 1 with the reason if not");
    command->add_option("token", options->token, "The token (acm_…[,acm_discharge…], or -)")
        ->required();
    auto* host = command->add_option(
        "--host", options->host,
        "Request host[:port], e.g. api.stripe.com (port 443) or api.example.com:8443");
    auto* method = command->add_option("--method", options->method, "Request method, e.g. GET");
    auto* path = command->add_option("--path", options->path,
                                     "Request path as sent, e.g. /v1/customers?limit=3");
    auto* db =
        command->add_option("--db", options->db, "Database login: the [[database]] name, e.g. app");
    auto* db_login =
        command->add_option("--db-login", options->db_login, "Database login: the login name");
    auto* db_name = command->add_option("--db-name", options->db_name,
                                        "Database login: the database name asked for (optional)");
    auto* db_protocol =
        command
            ->add_option("--db-protocol", options->db_protocol,
                         "Database login: postgres, mysql or redis (default: the configured "
                         "[[database]]'s protocol)")
            ->check(CLI::IsMember({"postgres", "mysql", "redis"}));
    options->http_flags = {host, method, path};
    options->db_flags = {db, db_login, db_name, db_protocol};
    options->db_login_flags = {db, db_login};
    for (auto* http_option : options->http_flags) {
        for (auto* db_option : options->db_flags) http_option->excludes(db_option);
    }
    command->add_option("--at", options->at, "Evaluate at this time (RFC 3339 or Unix seconds)");
    commands.push_back({command, [&global, options] { return run_verify(global, *options); }});
}

}  // namespace cloakroom::cli
