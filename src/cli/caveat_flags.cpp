#include "cli/caveat_flags.hpp"

#include "config/rate_text.hpp"
#include "db/redis/commands.hpp"
#include "util/ascii.hpp"
#include "util/duration.hpp"
#include "util/time_parse.hpp"

namespace cloakroom::cli {

void add_caveat_flags(CLI::App* command, CaveatFlags& flags) {
    command
        ->add_option("--hosts", flags.hosts,
                     "Allowed API hosts, e.g. api.stripe.com,api.openai.com")
        ->delimiter(',');
    command->add_option("--methods", flags.methods, "Allowed HTTP methods, e.g. GET,POST")
        ->delimiter(',');
    command
        ->add_option("--paths", flags.paths,
                     "Allowed path patterns (* = one segment, ** = any number), e.g. "
                     "/v1/customers/*")
        ->delimiter(',');
    command
        ->add_option("--db", flags.db_services,
                     "Allowed databases ([[database]] names), e.g. app,cache. A token with any "
                     "--db* flag can no longer make HTTP requests")
        ->delimiter(',');
    command
        ->add_option("--db-login", flags.db_logins,
                     "Allowed database login names (the user name the agent sends)")
        ->delimiter(',');
    command
        ->add_option("--db-name", flags.db_names,
                     "Allowed database names asked for at login (PostgreSQL/MySQL); a login "
                     "naming no database is then refused")
        ->delimiter(',');
    command
        ->add_option("--db-commands", flags.db_commands,
                     "Allowed Redis commands or @categories, e.g. GET,SCAN,@read (refuses "
                     "PostgreSQL/MySQL logins)")
        ->delimiter(',');
    command->add_option("--rate", flags.rate,
                        "Requests per second/minute/hour for the token and every token "
                        "attenuated from it, e.g. 10/s, 600/min (a Limits caveat)");
    command
        ->add_option("--concurrency", flags.concurrency,
                     "At most this many requests (or database sessions) at once")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000000}));
    command
        ->add_option("--budget", flags.budget,
                     "At most this many requests (or database sessions) over the token's "
                     "lifetime")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000000}));
    command->add_option("--valid-for", flags.valid_for, "Token lifetime, e.g. 1h, 24h, 7d");
    command->add_option("--not-before", flags.not_before,
                        "Validity start (RFC 3339 or Unix seconds)");
    command->add_flag("--show-caveats", flags.show_caveats, "Print the caveats to stderr");
}

Result<std::vector<token::Caveat>> build_caveats(const CaveatFlags& flags, std::int64_t now,
                                                 const ValidityPolicy& policy) {
    std::vector<token::Caveat> caveats;
    if (!flags.hosts.empty()) caveats.push_back(token::hosts_caveat(flags.hosts));
    if (!flags.methods.empty()) caveats.push_back(token::methods_caveat(flags.methods));
    if (!flags.paths.empty()) {
        auto paths = token::paths_caveat(flags.paths);
        if (!paths.ok()) return paths.error();
        caveats.push_back(std::move(*paths));
    }

    // Database caveats: after the HTTP ones, before the validity window.
    struct DbFlag {
        const std::vector<std::string>* entries;
        std::string_view flag;
        token::Caveat (*make)(std::vector<std::string>);
    };
    for (const DbFlag& db :
         {DbFlag{&flags.db_services, "--db", token::db_services_caveat},
          DbFlag{&flags.db_logins, "--db-login", token::db_logins_caveat},
          DbFlag{&flags.db_names, "--db-name", token::db_names_caveat},
          DbFlag{&flags.db_commands, "--db-commands", token::db_commands_caveat}}) {
        if (db.entries->empty()) continue;
        for (const auto& entry : *db.entries) {
            if (entry.empty())
                return make_error("usage", std::string(db.flag) + " has an empty entry");
            // A misspelt category would silently allow nothing: refuse it here instead.
            if (db.entries == &flags.db_commands && entry.front() == '@' &&
                !ascii_iequals(entry, "@all") && db::redis::category_bit(entry) == 0) {
                return make_error("usage", "--db-commands: unknown Redis category \"" + entry +
                                               "\" (e.g. @read, @write, @string, @hash, @all)");
            }
        }
        caveats.push_back(db.make(*db.entries));
    }

    // Limits: one caveat; enforced by the gateway per token id (docs/operations.md).
    if (!flags.rate.empty() || flags.concurrency != 0 || flags.budget != 0) {
        token::UsageLimits limits;
        if (!flags.rate.empty()) {
            auto rate = config::parse_rate(flags.rate);
            if (!rate.ok()) return make_error("usage", "--rate " + rate.error().message);
            limits.rate_count = rate->count;
            limits.rate_period_seconds = static_cast<std::uint64_t>(rate->period.count());
        }
        limits.concurrency = flags.concurrency;
        limits.budget = flags.budget;
        caveats.push_back(limits);
    }

    std::int64_t not_before = now;
    if (!flags.not_before.empty()) {
        auto parsed = parse_time(flags.not_before);
        if (!parsed.ok()) return parsed.error();
        not_before = *parsed;
    }
    std::optional<std::chrono::seconds> lifetime = policy.default_validity;
    if (!flags.valid_for.empty()) {
        auto parsed = parse_duration(flags.valid_for);
        if (!parsed.ok()) return parsed.error();
        if (parsed->count() <= 0) {
            return make_error("usage", "--valid-for must be longer than zero");
        }
        lifetime = *parsed;
    }
    if (!lifetime && !flags.not_before.empty()) {
        return make_error("usage", "--not-before needs --valid-for when attenuating");
    }
    if (lifetime) {
        // The window ends `lifetime` after it starts; a future start does not stretch the maximum.
        const std::int64_t not_after = std::max(now, not_before) + lifetime->count();
        if (policy.max_validity && not_after - now > policy.max_validity->count()) {
            return make_error("usage", "requested validity ends " +
                                           format_duration(std::chrono::seconds(not_after - now)) +
                                           " from now; the maximum is " +
                                           format_duration(*policy.max_validity) +
                                           " ([token] max_validity)");
        }
        caveats.push_back(token::validity_caveat(not_before, not_after));
    }
    return caveats;
}

}  // namespace cloakroom::cli
