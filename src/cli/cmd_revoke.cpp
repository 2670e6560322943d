// `cloakroom revoke`: revoke one token (by id or by the token itself, which revokes every token
// attenuated from the same root), or every token minted before a time; `--list` shows what is
// revoked. Records go to <data_dir>/revocations (runtime/revocation_store.hpp); a running
// `cloakroom serve` picks them up within a fraction of a second and ends the live sessions of the
// revoked tokens (docs/tokens.md, "Revocation").
#include <cstdio>
#include <ctime>
#include <memory>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "runtime/revocation_store.hpp"
#include "util/time_parse.hpp"

namespace cloakroom::cli {
namespace {

// A `--before` later than this past now would also revoke tokens minted from now until then.
constexpr std::int64_t kFutureSlackSeconds = 60;

struct RevokeOptions {
    std::string target;  // token id, token, or "-"
    std::string reason;
    std::string before;
    bool list = false;
};

int run_list(const runtime::RevocationList& list) {
    for (const auto& record : list.records()) {
        std::string what = record.before ? "before " + format_time_utc(*record.before)
                                         : "token  " + record.token_id;
        std::printf("%s  %s%s%s\n", format_time_utc(record.revoked_at).c_str(), what.c_str(),
                    record.reason.empty() ? "" : "  ", record.reason.c_str());
    }
    if (list.empty()) std::fprintf(stderr, "cloakroom revoke: nothing is revoked\n");
    return kExitOk;
}

// The token id named by `target`: an id as printed by `inspect`/the audit log, or a token.
Result<std::string> target_id(const config::Config& config, const std::string& target) {
    auto text = read_token_argument(target);
    if (!text.ok()) return text.error();
    const token::TokenFormat format = token_format(config);
    if (text->starts_with(format.prefix) || text->starts_with("Bearer ")) {
        // The id needs no key: it is the root nonce, and revoking a forged token's id is harmless.
        auto inspected = token::inspect_token(*text, format);
        if (!inspected.ok()) return inspected.error();
        return (*inspected)["token_id"].get<std::string>();
    }
    if (auto problem = runtime::check_token_id(*text); !problem.empty()) {
        return make_error("usage",
                          "not a token (" + format.prefix + "...) and not a token id: " + problem);
    }
    return *text;
}

int run_revoke(const GlobalOptions& global, const RevokeOptions& options) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("revoke", config.error(), kExitUsage);
    const auto path = runtime::revocations_path(config->data_dir);
    const int chosen = (options.list ? 1 : 0) + (options.before.empty() ? 0 : 1) +
                       (options.target.empty() ? 0 : 1);
    if (chosen != 1) {
        return fail("revoke",
                    make_error("usage", "give one of: a token id or token, --before TIME, --list"),
                    kExitUsage);
    }
    if (options.list) {
        auto list = runtime::load_revocations(path);
        if (!list.ok()) return fail("revoke", list.error(), kExitFailure);
        return run_list(*list);
    }
    if (auto problem = runtime::check_reason(options.reason); !problem.empty()) {
        return fail("revoke", make_error("usage", "--reason: " + problem), kExitUsage);
    }

    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    runtime::RevocationRecord record;
    record.revoked_at = now;
    record.reason = options.reason;
    std::string done;
    if (!options.before.empty()) {
        auto before = parse_time(options.before);
        if (!before.ok()) return fail("revoke", before.error(), kExitUsage);
        if (*before > now + kFutureSlackSeconds) {
            return fail("revoke",
                        make_error("usage", "--before " + format_time_utc(*before) +
                                                " is in the future: it would also revoke the "
                                                "tokens minted until then"),
                        kExitUsage);
        }
        record.before = *before;
        done = "revoked every token minted before " + format_time_utc(*before) +
               " (and every token without a validity window)";
    } else {
        auto id = target_id(*config, options.target);
        if (!id.ok()) return fail("revoke", id.error(), kExitUsage);
        record.token_id = *id;
        done = "revoked token " + *id + " and every token attenuated from it";
    }
    if (auto appended = runtime::append_revocation(path, record); !appended.ok()) {
        return fail("revoke", appended.error(), kExitFailure);
    }
    std::fprintf(stderr,
                 "cloakroom revoke: %s (%s); a running gateway applies it within a second\n",
                 done.c_str(), path.c_str());
    return kExitOk;
}

}  // namespace

void register_revoke(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<RevokeOptions>();
    auto* command = app.add_subcommand(
        "revoke",
        "Revoke a token (and every token attenuated from it) or every token minted before a "
        "time; a running gateway refuses them and ends their sessions");
    command->add_option("token", options->target,
                        "A token id (as in the audit log or `inspect`), a token, or - for stdin");
    command->add_option("--reason", options->reason, "Why (shown to the agent and audited)");
    command->add_option("--before", options->before,
                        "Revoke every token minted before this time (RFC 3339 or Unix seconds)");
    command->add_flag("--list", options->list, "List the revocations");
    commands.push_back({command, [&global, options] { return run_revoke(global, *options); }});
}

}  // namespace cloakroom::cli
