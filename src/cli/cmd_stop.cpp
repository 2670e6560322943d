// `cloakroom stop NAME`: ends a `cloakroom run --name NAME` session (SIGTERM to its command).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/run_registry.hpp"

namespace cloakroom::cli {
namespace {

int run_stop(const GlobalOptions& global, const std::string& name) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("stop", config.error(), kExitUsage);
    auto pid = session_pid(config->data_dir, name);
    if (!pid.ok()) return fail("stop", pid.error(), kExitFailure);
    // cloakroom run forwards SIGTERM to the command; the sandbox ends with it.
    if (::kill(*pid, SIGTERM) != 0) {
        return fail("stop", make_error("stop", "cannot signal the session"), kExitFailure);
    }
    for (int i = 0; i < 200; ++i) {
        // Gone, or a zombie not yet reaped by its shell (no command line any more).
        if (!session_pid(config->data_dir, name).ok()) {
            std::fprintf(stderr, "cloakroom stop: session \"%s\" ended\n", name.c_str());
            return kExitOk;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr,
                 "cloakroom stop: session \"%s\" still running after 10 s (its command "
                 "ignores SIGTERM?)\n",
                 name.c_str());
    return kExitFailure;
}

}  // namespace

void register_stop(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto name = std::make_shared<std::string>();
    auto* command = app.add_subcommand(
        "stop", "End a `cloakroom run --name NAME` session: SIGTERM to its command");
    command->add_option("name", *name, "Session name")->required();
    commands.push_back({command, [&global, name] { return run_stop(global, *name); }});
}

}  // namespace cloakroom::cli
