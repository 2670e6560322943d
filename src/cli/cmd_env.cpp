// `cloakroom env`: shell exports that point an agent's tools at Cloakroom.
//   eval "$(cloakroom env)"
#include <cstdio>

#include "cli/agent_files.hpp"
#include "cli/command.hpp"
#include "cli/context.hpp"
#include "proxy/agent_env.hpp"
#include "tls/certificate_authority.hpp"

namespace cloakroom::cli {
namespace {

int run_env(const GlobalOptions& global) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("env", config.error(), kExitUsage);
    auto authority = tls::CertificateAuthority::load_or_create(config->data_dir / "ca");
    if (!authority.ok()) return fail("env", authority.error(), kExitFailure);
    auto files = write_agent_files(*config, **authority);
    if (!files.ok()) return fail("env", files.error(), kExitFailure);
    std::fputs(proxy::shell_exports(proxy::agent_environment(*config, *files)).c_str(), stdout);
    return kExitOk;
}

}  // namespace

void register_env(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* command = app.add_subcommand(
        "env",
        "Print shell exports (proxy, NO_PROXY, CA bundle) for an agent: eval \"$(cloakroom env)\"");
    commands.push_back({command, [&global] { return run_env(global); }});
}

}  // namespace cloakroom::cli
