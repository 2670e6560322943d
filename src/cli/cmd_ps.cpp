// `cloakroom ps`: the sandboxes the running gateway serves (through its hand-over socket).
#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/run_registry.hpp"
#include "sandbox/gateway_link.hpp"

namespace cloakroom::cli {
namespace {

int run_ps(const GlobalOptions& global) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("ps", config.error(), kExitUsage);
    if (config->gateway.sandbox_socket.empty()) {
        return fail("ps", make_error("ps", "[gateway] sandbox_socket is disabled"), kExitFailure);
    }
    auto connection = sandbox::connect_handover(config->gateway.sandbox_socket);
    if (!connection.ok()) return fail("ps", connection.error(), kExitFailure);
    auto status = sandbox::gateway_status(connection->get());
    if (!status.ok()) return fail("ps", status.error(), kExitFailure);
    std::printf("%-24s %-34s %-12s %s\n", "SESSION", "TOKEN ID", "PROFILE", "LISTENERS");
    for (const auto& session : status->value("sessions", nlohmann::json::array())) {
        const std::string name = session.value("session", std::string("?"));
        // The profile is known to the session's `cloakroom run` (its pid file), not the gateway.
        std::string profile = session_profile(config->data_dir, name);
        if (profile.empty()) profile = "-";
        std::printf("%-24s %-34s %-12s %d\n", name.c_str(),
                    session.value("token_id", std::string("?")).c_str(), profile.c_str(),
                    session.value("listeners", 0));
    }
    return kExitOk;
}

}  // namespace

void register_ps(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* command = app.add_subcommand(
        "ps",
        "List the `cloakroom run` sandboxes the running gateway serves (session name, "
        "token id, profile, adopted listeners)");
    commands.push_back({command, [&global] { return run_ps(global); }});
}

}  // namespace cloakroom::cli
