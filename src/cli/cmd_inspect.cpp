// `cloakroom inspect`: show what a token allows, without any key.
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/context.hpp"

namespace cloakroom::cli {
namespace {

int run_inspect(const GlobalOptions& global, const std::string& token_argument) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("inspect", config.error(), kExitUsage);
    auto text = read_token_argument(token_argument);
    if (!text.ok()) return fail("inspect", text.error(), kExitUsage);
    auto inspected = token::inspect_token(*text, token_format(*config));
    if (!inspected.ok()) return fail("inspect", inspected.error(), kExitFailure);
    std::printf("%s\n", inspected->dump(2).c_str());
    return kExitOk;
}

}  // namespace

void register_inspect(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto token = std::make_shared<std::string>();
    auto* command = app.add_subcommand(
        "inspect", "Print a token's caveats as JSON (no key needed; the signature is not checked)");
    command->add_option("token", *token, "The token (acm_…[,acm_discharge…], or - for stdin)")
        ->required();
    commands.push_back({command, [&global, token] { return run_inspect(global, *token); }});
}

}  // namespace cloakroom::cli
