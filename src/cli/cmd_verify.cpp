// `cloakroom verify`: would the gateway let this token make this request?
// Exit 0 = allowed, 1 = denied (reason on stderr), 2 = usage error.
#include <cstdio>
#include <ctime>
#include <memory>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "util/time_parse.hpp"

namespace cloakroom::cli {
namespace {

struct VerifyOptions {
    std::string token;
    std::string host;
    std::string method;
    std::string path;
    std::string at;
};

int run_verify(const GlobalOptions& global, const VerifyOptions& options) {
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
    auto keys = load_keys(*config, KeyPolicy::VerifyOnly);
    if (!keys.ok()) return fail("verify", keys.error(), kExitFailure);

    token::AccessRequest request{options.host, options.method, options.path, at};
    const auto outcome = token::verify_token(*text, request, *keys, token_format(*config));
    if (outcome.stage != token::Stage::Ok) {
        std::fprintf(stderr, "denied (%s): %s\n",
                     std::string(token::stage_name(outcome.stage)).c_str(), outcome.reason.c_str());
        return kExitFailure;
    }
    std::printf("allowed: token %s may %s %s%s\n", outcome.token_id.c_str(), options.method.c_str(),
                options.host.c_str(), options.path.c_str());
    return kExitOk;
}

}  // namespace

void register_verify(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<VerifyOptions>();
    auto* command = app.add_subcommand(
        "verify", "Check a token against a request: exit 0 if allowed, 1 with the reason if not");
    command->add_option("token", options->token, "The token (acm_…[,acm_discharge…], or -)")
        ->required();
    command->add_option("--host", options->host, "Request host, e.g. api.stripe.com")->required();
    command->add_option("--method", options->method, "Request method, e.g. GET")->required();
    command->add_option("--path", options->path, "Request path as sent, e.g. /v1/customers?limit=3")
        ->required();
    command->add_option("--at", options->at, "Evaluate at this time (RFC 3339 or Unix seconds)");
    commands.push_back({command, [&global, options] { return run_verify(global, *options); }});
}

}  // namespace cloakroom::cli
