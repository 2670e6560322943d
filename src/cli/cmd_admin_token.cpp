// `cloakroom admin-token`: prints the admin API's bearer token (docs/operations.md), creating it
// (mode 0600 in the data directory) when `cloakroom serve` has not yet.
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "serve/admin_token.hpp"

namespace cloakroom::cli {
namespace {

struct AdminTokenOptions {
    bool path = false;
};

int run_admin_token(const GlobalOptions& global, const AdminTokenOptions& options) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("admin-token", config.error(), kExitUsage);
    if (options.path) {
        std::printf("%s\n", serve::admin_token_path(config->data_dir).c_str());
        return kExitOk;
    }
    auto token = serve::load_or_create_admin_token(config->data_dir);
    if (!token.ok()) return fail("admin-token", token.error(), kExitFailure);
    std::printf("%s\n", token->c_str());
    return kExitOk;
}

}  // namespace

void register_admin_token(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<AdminTokenOptions>();
    auto* command = app.add_subcommand(
        "admin-token",
        "Print the admin API's bearer token (created 0600 in the data directory if absent)");
    command->add_flag("--path", options->path, "Print the token file's path instead");
    commands.push_back({command, [&global, options] { return run_admin_token(global, *options); }});
}

}  // namespace cloakroom::cli
