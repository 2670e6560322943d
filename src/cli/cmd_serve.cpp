// `cloakroom serve`: run the gateway until SIGINT/SIGTERM; SIGHUP or a config file change
// reloads (the last good configuration keeps serving if the new one is broken).
#include <memory>

#include "cli/command.hpp"
#include "config/environment.hpp"
#include "proxy/server.hpp"

namespace cloakroom::cli {
namespace {

int run_serve(const GlobalOptions& global, unsigned threads) {
    proxy::ServeOptions options;
    options.config_files.assign(global.config_files.begin(), global.config_files.end());
    options.threads = threads;
    const auto environment = config::Environment::from_process();
    return proxy::serve(options, environment);
}

}  // namespace

void register_serve(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto threads = std::make_shared<unsigned>(0);
    auto* command = app.add_subcommand(
        "serve",
        "Run the HTTPS gateway (forward proxy with TLS interception and credential injection)");
    command->add_option("--threads", *threads, "Worker threads (default: one per core)");
    commands.push_back({command, [&global, threads] { return run_serve(global, *threads); }});
}

}  // namespace cloakroom::cli
