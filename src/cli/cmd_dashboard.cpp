// `cloakroom dashboard`: prints the admin dashboard's address with the admin token in the URL's
// fragment (docs/operations.md, "Dashboard"). The page's script takes the token from there; a
// browser never sends a fragment to the server.
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "serve/admin_token.hpp"
#include "serve/dashboard.hpp"

namespace cloakroom::cli {
namespace {

struct DashboardOptions {
    unsigned port = 0;  // the listener's port when [admin] listen says 0
};

int run_dashboard(const GlobalOptions& global, const DashboardOptions& options) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("dashboard", config.error(), kExitUsage);
    if (!config->admin.listen) {
        std::fprintf(stderr,
                     "cloakroom dashboard: the dashboard needs the admin TCP listener (a browser "
                     "cannot reach the unix socket): set [admin] listen = \"127.0.0.1:9464\"\n");
        return kExitUsage;
    }
    const unsigned port = options.port != 0 ? options.port : config->admin.listen->port;
    if (port == 0 || port > 65535) {
        std::fprintf(stderr,
                     "cloakroom dashboard: [admin] listen has port 0 (picked at start-up): give "
                     "--port with the port `cloakroom serve` printed\n");
        return kExitUsage;
    }
    auto token = serve::load_or_create_admin_token(config->data_dir);
    if (!token.ok()) return fail("dashboard", token.error(), kExitFailure);
    std::printf("%s\n", serve::dashboard_url(config->admin.listen->host,
                                             static_cast<std::uint16_t>(port), *token)
                            .c_str());
    return kExitOk;
}

}  // namespace

void register_dashboard(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<DashboardOptions>();
    auto* command = app.add_subcommand(
        "dashboard",
        "Print the admin dashboard's URL, with the admin token in its #fragment (needs [admin] "
        "listen)");
    command->add_option("--port", options->port,
                        "The admin listener's port, when [admin] listen gives port 0");
    commands.push_back({command, [&global, options] { return run_dashboard(global, *options); }});
}

}  // namespace cloakroom::cli
