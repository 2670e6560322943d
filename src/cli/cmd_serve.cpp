// `cloakroom serve`: the gateway. The HTTPS listener lands with issue 3; until then this command
// validates the configuration and says plainly that it does not serve traffic yet.
#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"

namespace cloakroom::cli {
namespace {

int run_serve(const GlobalOptions& global) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("serve", config.error(), kExitFailure);
    std::string sources;
    for (const auto& source : config->sources) sources += (sources.empty() ? "" : ", ") + source;
    std::fprintf(stderr,
                 "cloakroom serve: configuration ok (%s; %zu services, proxy listener %s)\n"
                 "cloakroom serve: the HTTPS gateway is not part of this build yet, so nothing is "
                 "listening.\n"
                 "What works today: cloakroom mint | attenuate | inspect | verify | keys | secrets "
                 "check | config check (see cloakroom --help).\n",
                 sources.c_str(), config->services.size(), config->gateway.proxy.address.c_str());
    return kExitFailure;
}

}  // namespace

void register_serve(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* command =
        app.add_subcommand("serve", "Run the gateway (not yet available in this build)");
    commands.push_back({command, [&global] { return run_serve(global); }});
}

}  // namespace cloakroom::cli
